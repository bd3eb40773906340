"""The webhook behind a real kube-apiserver: enforce denies with the message, warn admits
with warnings, audit admits, excluded namespaces and exempt pods pass, and with the
webhook down failurePolicy Ignore admits while Fail rejects."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Cluster, b64, clean_env
from tests.tools import free_port, wait_ready, write_leaf

MODES = ("enforce", "warn", "audit")


def pod_yaml(
    name: str, namespace: str, ddtrace: str, annotations: dict[str, str] | None = None
) -> str:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"ddcompat.io/ddtrace-version": ddtrace, **(annotations or {})},
        },
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "python:3.11-slim",
                    "env": [
                        {"name": "DD_APPSEC_ENABLED", "value": "true"},
                        {"name": "DD_REMOTE_CONFIGURATION_ENABLED", "value": "true"},
                    ],
                }
            ]
        },
    }
    return yaml.safe_dump(pod)


def deployment_yaml(name: str, namespace: str, ddtrace: str) -> str:
    pod = yaml.safe_load(pod_yaml(name, namespace, ddtrace))
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {
                    "labels": {"app": name},
                    "annotations": pod["metadata"]["annotations"],
                },
                "spec": pod["spec"],
            },
        },
    }
    return yaml.safe_dump(dep)


def webhook_entry(
    name: str, url: str, ca: bytes, selector: dict[str, Any], failure: str
) -> dict[str, Any]:
    return {
        "name": name,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "failurePolicy": failure,
        "timeoutSeconds": 5,
        "clientConfig": {"url": url, "caBundle": b64(ca)},
        "rules": [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["pods"],
                "operations": ["CREATE", "UPDATE"],
            },
            {
                "apiGroups": ["apps"],
                "apiVersions": ["v1"],
                "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"],
                "operations": ["CREATE", "UPDATE"],
            },
            {
                "apiGroups": ["batch"],
                "apiVersions": ["v1"],
                "resources": ["jobs", "cronjobs"],
                "operations": ["CREATE", "UPDATE"],
            },
        ],
        "namespaceSelector": selector,
    }


@pytest.fixture(scope="module")
def webhook(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    d = tmp_path_factory.mktemp("webhook")
    cert, key = write_leaf(cluster.ca.issue_cert("127.0.0.1"), d / "tls.crt", d / "tls.key")
    port = free_port()
    exe = Path(sys.executable).parent / "ddcompat"
    proc = subprocess.Popen(
        [
            str(exe),
            "webhook",
            "serve",
            f"--tls-cert={cert}",
            f"--tls-key={key}",
            "--host=127.0.0.1",
            f"--port={port}",
            "--shutdown-delay=0",
            "--events",  # (written with the admin's kubeconfig)
            f"--kubeconfig={cluster.kubeconfig}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=clean_env(),
    )
    wait_ready(f"https://127.0.0.1:{port}/readyz", context=cluster.ssl_context(), proc=proc)
    ca = cluster.ca.cert_pem.bytes()
    down = free_port()  # nothing listens here
    excluded = {
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": ["kube-system"],
    }
    hooks = [
        webhook_entry(
            f"{m}.ddcompat.io",
            f"https://127.0.0.1:{port}/validate/{m}",
            ca,
            {
                "matchExpressions": [
                    excluded,
                    {"key": "ddcompat.io/mode", "operator": "In", "values": [m]},
                ]
            },
            "Fail",
        )
        for m in MODES
    ]
    for failure in ("Ignore", "Fail"):
        hooks.append(
            webhook_entry(
                f"down-{failure.lower()}.ddcompat.io",
                f"https://127.0.0.1:{down}/validate",
                ca,
                {"matchLabels": {"ddcompat.io/test": f"down-{failure.lower()}"}},
                failure,
            )
        )
    vwc = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "ddcompat-e2e"},
        "webhooks": hooks,
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(vwc))
    for m in MODES:
        cluster.kubectl("create", "namespace", f"wh-{m}")
        cluster.kubectl("label", "namespace", f"wh-{m}", f"ddcompat.io/mode={m}")
    for failure in ("ignore", "fail"):
        cluster.kubectl("create", "namespace", f"wh-down-{failure}")
        cluster.kubectl(
            "label", "namespace", f"wh-down-{failure}", f"ddcompat.io/test=down-{failure}"
        )
    time.sleep(1)  # the API server picks up webhook configurations asynchronously
    yield port
    cluster.kubectl("delete", "validatingwebhookconfiguration", "ddcompat-e2e", check=False)
    proc.terminate()
    proc.wait(timeout=20)


def apply(cluster: Cluster, text: str) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("apply", "-f", "-", input=text, check=False)


def dry_apply(cluster: Cluster, text: str) -> subprocess.CompletedProcess[str]:
    """`kubectl apply --dry-run=server`: admission runs, nothing is stored."""
    return cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=text, check=False)


def test_enforce_denies_with_the_message(cluster: Cluster, webhook: int) -> None:
    out = apply(cluster, pod_yaml("old", "wh-enforce", "1.9.0"))
    assert out.returncode != 0
    assert 'admission webhook "enforce.ddcompat.io" denied the request' in out.stderr
    assert (
        "container web: threat_protection: DDTRACE_TOO_OLD (required >=1.10.0, observed 1.9.0)"
        in out.stderr
    )
    from kubernetes import client

    api = client.CoreV1Api(cluster.api())
    with pytest.raises(client.ApiException) as exc:
        api.create_namespaced_pod(
            "wh-enforce", yaml.safe_load(pod_yaml("old2", "wh-enforce", "1.9.0"))
        )
    assert exc.value.status == 403 and "DDTRACE_TOO_OLD" in str(exc.value.body)
    assert apply(cluster, pod_yaml("new", "wh-enforce", "1.20.0")).returncode == 0
    assert cluster.kubectl("get", "pod", "new", "-n", "wh-enforce").returncode == 0


def test_warn_admits_with_warnings(cluster: Cluster, webhook: int) -> None:
    out = apply(cluster, pod_yaml("old", "wh-warn", "1.9.0"))
    assert out.returncode == 0, out.stderr
    assert "Warning: ddcompat: container web: threat_protection: DDTRACE_TOO_OLD" in out.stderr


def test_audit_admits_quietly(cluster: Cluster, webhook: int) -> None:
    out = apply(cluster, pod_yaml("old", "wh-audit", "1.9.0"))
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stderr


def test_excluded_namespace_and_exempt_pods_pass(cluster: Cluster, webhook: int) -> None:
    assert apply(cluster, pod_yaml("old", "kube-system", "1.9.0")).returncode == 0
    exempt = pod_yaml("legacy", "wh-enforce", "1.0.0", {"ddcompat.io/exempt": "retiring, OPS-7"})
    assert apply(cluster, exempt).returncode == 0


def test_webhook_down(cluster: Cluster, webhook: int) -> None:
    assert apply(cluster, pod_yaml("p", "wh-down-ignore", "1.9.0")).returncode == 0
    out = apply(cluster, pod_yaml("p", "wh-down-fail", "1.20.0"))
    assert out.returncode != 0 and "failed calling webhook" in out.stderr


def test_apply_of_a_noncompliant_deployment_fails_where_the_user_sees_it(
    cluster: Cluster, webhook: int
) -> None:
    """Issue 15: the Deployment itself is refused in enforce (not its Pods later)."""
    out = apply(cluster, deployment_yaml("api", "wh-enforce", "1.9.0"))
    assert out.returncode != 0
    assert 'admission webhook "enforce.ddcompat.io" denied the request' in out.stderr
    assert "deployment wh-enforce/api uses" in out.stderr
    assert "container web: threat_protection: DDTRACE_TOO_OLD" in out.stderr
    # dry-run on the server gives the same answer
    dry = dry_apply(cluster, deployment_yaml("api", "wh-enforce", "1.9.0"))
    assert dry.returncode != 0 and "DDTRACE_TOO_OLD" in dry.stderr
    assert apply(cluster, deployment_yaml("api", "wh-enforce", "1.20.0")).returncode == 0


def test_warn_prints_the_reasons_at_apply_time(cluster: Cluster, webhook: int) -> None:
    out = apply(cluster, deployment_yaml("api", "wh-warn", "1.9.0"))
    assert out.returncode == 0, out.stderr
    assert "Warning: ddcompat: container web: threat_protection: DDTRACE_TOO_OLD" in out.stderr
    dry = dry_apply(cluster, deployment_yaml("api2", "wh-warn", "1.9.0"))
    assert dry.returncode == 0 and "Warning: ddcompat:" in dry.stderr
    # --events: one Event on the Deployment, written in the background; none for the dry run
    event = _wait_for_event(cluster, "wh-warn", "api")
    assert event["involvedObject"]["kind"] == "Deployment" and event["type"] == "Warning"
    assert "threat_protection: DDTRACE_TOO_OLD" in event["message"]
    uid = cluster.uid("deployment", "api", "wh-warn")
    assert event["involvedObject"]["uid"] == uid  # (so `kubectl describe` lists it)
    assert "DdcompatGap" in cluster.kubectl("describe", "deployment", "api", "-n", "wh-warn").stdout
    # the same workload changed again within the interval (warned again at apply time):
    # still that one Event, never one per apply
    again = apply(cluster, deployment_yaml("api", "wh-warn", "1.9.1"))
    assert again.returncode == 0 and "Warning: ddcompat:" in again.stderr
    time.sleep(1)
    listed = cluster.events("wh-warn")
    assert [(e["involvedObject"]["name"], e["count"]) for e in listed] == [("api", 1)]


def _wait_for_event(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for e in cluster.events(namespace):
            if e["involvedObject"]["name"] == name:
                return e
        time.sleep(0.2)
    raise AssertionError(f"no DdcompatGap Event on {namespace}/{name}: {cluster.events(namespace)}")


def test_scaling_an_existing_noncompliant_deployment_is_allowed(
    cluster: Cluster, webhook: int
) -> None:
    """A namespace switched to enforce can still scale (and relabel) what already runs."""
    cluster.kubectl("create", "namespace", "wh-switch")
    cluster.kubectl("label", "namespace", "wh-switch", "ddcompat.io/mode=audit")
    time.sleep(0.5)
    assert apply(cluster, deployment_yaml("legacy", "wh-switch", "1.9.0")).returncode == 0
    cluster.kubectl("label", "--overwrite", "namespace", "wh-switch", "ddcompat.io/mode=enforce")
    time.sleep(0.5)
    scaled = cluster.kubectl(
        "scale", "deployment", "legacy", "-n", "wh-switch", "--replicas=3", check=False
    )
    assert scaled.returncode == 0, scaled.stderr
    relabelled = cluster.kubectl(
        "label", "deployment", "legacy", "-n", "wh-switch", "team=payments", check=False
    )
    assert relabelled.returncode == 0, relabelled.stderr
    # a template change (a rollout restart) is judged: refused in enforce
    restart = cluster.kubectl(
        "rollout", "restart", "deployment", "legacy", "-n", "wh-switch", check=False
    )
    assert restart.returncode != 0 and "DDTRACE_TOO_OLD" in restart.stderr


def test_helm_install_of_a_noncompliant_chart_fails_with_the_message(
    cluster: Cluster, webhook: int, tmp_path: Path
) -> None:
    chart = tmp_path / "shop"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 0.1.0\n")
    (chart / "templates" / "deployment.yaml").write_text(
        deployment_yaml("shop", "wh-enforce", "1.9.0").replace(
            "namespace: wh-enforce", "namespace: {{ .Release.Namespace }}"
        )
    )
    out = cluster.helm(
        "install",
        "shop",
        str(chart),
        "-n",
        "wh-enforce",
        "--wait",
        "--timeout",
        "60s",
        check=False,
    )
    assert out.returncode != 0
    assert "denied the request" in out.stderr and "DDTRACE_TOO_OLD" in out.stderr
