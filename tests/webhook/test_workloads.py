"""Workloads judged at apply time (issue 15): Deployments, StatefulSets, DaemonSets,
ReplicaSets, Jobs, CronJobs and Argo Rollouts, with the same facts, policy and modes as
their Pods; UPDATEs only when the pod template changed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod
from ddcompat.webhook import protocol
from tests.webhook.conftest import PYTHON_APP

SEED = matrix_mod.load(edition="seed")

KINDS = [
    ("apps", "v1", "Deployment", ("spec", "template")),
    ("apps", "v1", "StatefulSet", ("spec", "template")),
    ("apps", "v1", "DaemonSet", ("spec", "template")),
    ("apps", "v1", "ReplicaSet", ("spec", "template")),
    ("batch", "v1", "Job", ("spec", "template")),
    ("batch", "v1", "CronJob", ("spec", "jobTemplate", "spec", "template")),
    ("argoproj.io", "v1alpha1", "Rollout", ("spec", "template")),
]


def workload(kind: str, group: str, version: str, path: tuple[str, ...], ddtrace: str) -> Any:
    template = {
        "metadata": {
            "labels": {"app": "api"},
            "annotations": {"ddcompat.io/ddtrace-version": ddtrace},
        },
        "spec": {"containers": [copy.deepcopy(PYTHON_APP)]},
    }
    obj: dict[str, Any] = {
        "apiVersion": f"{group}/{version}",
        "kind": kind,
        "metadata": {"name": "api", "namespace": "shop", "labels": {"team": "a"}},
        "spec": {"replicas": 2},
    }
    node = obj
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = template
    return obj


def review_of(
    obj: Any, group: str, version: str, operation: str = "CREATE", old: Any = None
) -> Any:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-1",
            "kind": {"group": group, "version": version, "kind": obj["kind"]},
            "namespace": "shop",
            "name": "api",
            "operation": operation,
            "object": obj,
            "oldObject": old,
        },
    }


def decide(
    body: Any, judge: protocol.Judge | None = None, mode: protocol.Mode = "enforce"
) -> list[protocol.Outcome]:
    """The decision from raw bytes (typed path) and from parsed JSON (both must agree)."""
    judge = judge or protocol.Judge(SEED, policy_mod.DEFAULT, cache_size=0)
    return [
        protocol.review(json.dumps(body).encode(), judge=judge, mode=mode),
        protocol.review(copy.deepcopy(body), judge=judge, mode=mode),
    ]


@pytest.mark.parametrize(("group", "version", "kind", "path"), KINDS, ids=[k[2] for k in KINDS])
def test_a_noncompliant_workload_is_denied_naming_it(
    group: str, version: str, kind: str, path: tuple[str, ...]
) -> None:
    body = review_of(workload(kind, group, version, path, "1.9.0"), group, version)
    for out in decide(body):
        assert out.decision == "denied" and out.kind == kind
        message = out.body["response"]["status"]["message"]
        assert message.startswith(f"ddcompat: {kind.lower()} shop/api uses")
        assert "container web: threat_protection: DDTRACE_TOO_OLD" in message
    ok = review_of(workload(kind, group, version, path, "1.20.0"), group, version)
    assert all(o.decision == "allowed" for o in decide(ok))
    warned = decide(body, mode="warn")
    assert all(o.decision == "warned" and o.body["response"]["allowed"] for o in warned)


@pytest.mark.parametrize(("group", "version", "kind", "path"), KINDS, ids=[k[2] for k in KINDS])
def test_updates_outside_the_template_are_never_denied(
    group: str, version: str, kind: str, path: tuple[str, ...]
) -> None:
    old = workload(kind, group, version, path, "1.9.0")
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 10
    scaled["metadata"]["labels"]["owner"] = "payments"
    scaled["metadata"]["annotations"] = {"note": "relabelled"}
    for out in decide(review_of(scaled, group, version, "UPDATE", old)):
        assert out.decision == "skipped" and out.body["response"]["allowed"]
    # a rollout restart changes the template: judged
    restarted = copy.deepcopy(old)
    node = restarted
    for part in path:
        node = node[part]
    node["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] = "2026-12-02T18:00:00Z"
    for out in decide(review_of(restarted, group, version, "UPDATE", old)):
        assert out.decision == "denied"


def test_the_pods_of_a_judged_deployment_come_from_the_decision_cache() -> None:
    group, version, kind, path = KINDS[0]
    dep = workload(kind, group, version, path, "1.9.0")
    template = dep["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "api-6d4b9-x2k8f",
            "namespace": "shop",
            "labels": {**template["metadata"]["labels"], "pod-template-hash": "6d4b9"},
            "annotations": template["metadata"]["annotations"],
            "ownerReferences": [
                {"kind": "ReplicaSet", "name": "api-6d4b9", "controller": True, "uid": "x"}
            ],
        },
        "spec": copy.deepcopy(template["spec"]),
    }
    dep["metadata"]["labels"] = {}  # (labels the judgement reads must match)
    judge2 = protocol.Judge(SEED, policy_mod.DEFAULT)
    protocol.review(review_of(dep, group, version), judge=judge2, mode="warn")
    assert judge2.decisions is not None
    hits = judge2.decisions.hits
    out = protocol.review(review_of(pod, "", "v1"), judge=judge2, mode="warn")
    assert judge2.decisions.hits == hits + 1  # answered from the Deployment's judgement
    assert out.decision == "warned" and out.kind == "Pod"
