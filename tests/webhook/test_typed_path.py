"""A review answers alike whether it comes as raw JSON (what the server gets) or parsed.

From raw JSON, ``protocol.review`` decodes only what a judgement reads; a review outside
the plain shape is parsed in full and checked field by field. Either way the Outcome
(body, decision, results, errors, findings) must be the one of the parsed review.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod
from ddcompat.webhook import decode as decode_mod
from ddcompat.webhook import protocol
from tests.strategies import manifest_strategy
from tests.webhook.conftest import PYTHON_APP, pod, review

SEED = matrix_mod.load(edition="seed")
POLICY = policy_mod.DEFAULT


def checked(body: Any, mode: protocol.Mode = "enforce") -> protocol.Outcome:
    judge = protocol.Judge(SEED, POLICY, cache_size=0)
    return protocol.review(orjson.loads(json.dumps(body)), judge=judge, mode=mode)


def typed(
    body: Any, mode: protocol.Mode = "enforce", judge: protocol.Judge | None = None
) -> protocol.Outcome:
    raw = json.dumps(body).encode()
    judge = judge or protocol.Judge(SEED, POLICY, cache_size=0)
    return protocol.review(raw, judge=judge, mode=mode)


@pytest.fixture
def no_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if a raw review is parsed in full (the way of odd reviews)."""

    def refuse(*args: Any, **kwargs: Any) -> protocol.Outcome:
        raise AssertionError("the typed decoder gave up on a plain review")

    monkeypatch.setattr(decode_mod, "_converted", refuse)


def _rs_pod(name: str, env: list[dict[str, str]] | None = None) -> dict[str, Any]:
    p = pod("1.9.0", name=name, containers=[dict(PYTHON_APP, env=env or PYTHON_APP["env"])])
    p["metadata"]["labels"] = {"pod-template-hash": "5d8f", "app": "api"}
    p["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-5d8f", "controller": True}
    ]
    return p


@pytest.mark.parametrize("mode", protocol.MODES)
def test_plain_reviews_take_the_typed_path(mode: protocol.Mode, no_fallback: None) -> None:
    body = review(_rs_pod("api-5d8f-x1"), uid="u-1")
    out = typed(body, mode)
    assert out.body["response"]["uid"] == "u-1"
    assert out.decision == {"enforce": "denied", "warn": "warned", "audit": "audited"}[mode]
    assert {r.workload.name for r in out.results} == {"api"}  # the Deployment, as in review()


def test_odd_reviews_are_read_in_full_and_named() -> None:
    body = review(pod("1.20.0", annotations={"ddcompat.io/features": 7}))  # type: ignore[dict-item]
    out = typed(body)
    assert out == checked(body)
    assert out.decision == "denied"
    assert "metadata.annotations[ddcompat.io/features]" in out.body["response"]["status"]["message"]
    with pytest.raises(protocol.AdmissionError) as err:
        protocol.review(b"{not json", judge=protocol.Judge(SEED), mode="enforce")
    assert err.value.status == 400


def test_cache_shares_pods_that_differ_only_in_what_no_judgement_reads(
    no_fallback: None,
) -> None:
    judge = protocol.Judge(SEED, POLICY)
    cache = judge.decisions
    assert cache is not None
    base_env: list[dict[str, str]] = list(PYTHON_APP["env"])  # type: ignore[arg-type]
    first = typed(
        review(_rs_pod("api-5d8f-a", [*base_env, {"name": "DD_SERVICE", "value": "a"}])),
        judge=judge,
    )
    second = typed(
        review(_rs_pod("api-5d8f-b", [*base_env, {"name": "DD_SERVICE", "value": "b"}])),
        judge=judge,
    )
    assert (cache.misses, cache.hits) == (1, 1)
    assert first.results == second.results
    assert "pod shop/api-5d8f-b" in second.body["response"]["status"]["message"]
    # a variable the signals read, or a label a policy selector could read: judged again
    rc_off = [{"name": "DD_APPSEC_ENABLED", "value": "true"}]
    assert typed(review(_rs_pod("api-5d8f-c", rc_off)), judge=judge).decision == "allowed"
    relabelled = _rs_pod("api-5d8f-d")
    relabelled["metadata"]["labels"]["team"] = "payments"
    typed(review(relabelled), judge=judge)
    assert cache.misses == 3


reviews = st.builds(
    lambda obj, op, ns, name, dry, uid: {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": op,
            **({"namespace": ns} if ns is not None else {}),
            **({"name": name} if name is not None else {}),
            "object": obj,
            "dryRun": dry,
        },
    },
    st.one_of(
        manifest_strategy(odd=False, pods_only=True), manifest_strategy(odd=True, pods_only=True)
    ),
    st.sampled_from(["CREATE", "UPDATE", "DELETE"]),
    st.one_of(st.none(), st.just("prod")),
    st.one_of(st.none(), st.just("named")),
    st.booleans(),
    st.sampled_from(["u-1", "u-2"]),
)


@settings(max_examples=300, deadline=None)
@given(reviews, st.sampled_from(protocol.MODES))
def test_generated_reviews_answer_alike(body: dict[str, Any], mode: protocol.Mode) -> None:
    expected = checked(body, mode)
    judge = protocol.Judge(SEED, POLICY)
    assert typed(body, mode) == expected
    assert typed(body, mode, judge) == expected
    # a second Pod with the same content: answered from the cache, still alike
    again = copy.deepcopy(body)
    again["request"]["uid"] = "u-again"
    assert typed(again, mode, judge) == checked(again, mode)


def test_a_pod_field_that_cannot_be_read_names_the_pod_either_way() -> None:
    # found by Hypothesis: the parsed review answered "pod -/-" where the raw one said "-/web"
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {
            "containers": None,
            "initContainers": [
                {"name": "app", "env": [{"name": "DD_APPSEC_ENABLED", "value": None}]}
            ],
        },
    }
    body = review(obj)
    out = typed(body)
    assert out == checked(body)
    message = out.body["response"]["status"]["message"]
    assert "/web uses" in message and "spec.containers: missing" in message
