"""AdmissionReview decisions, independent of HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod
from ddcompat.webhook import protocol
from tests.webhook.conftest import PYTHON_APP, pod, review

SEED = matrix_mod.load(edition="seed")


def decide(
    body: Any, mode: protocol.Mode = "enforce", pol: policy_mod.Policy | None = None
) -> protocol.Outcome:
    judge = protocol.Judge(SEED, pol or policy_mod.DEFAULT, cache_size=0)
    return protocol.review(body, judge=judge, mode=mode)


def test_compliant_pod_is_allowed_and_uid_echoed() -> None:
    body = review(pod("1.20.0"), uid="abc-123")
    out = decide(body)
    assert out.decision == "allowed"
    assert out.body == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "abc-123", "allowed": True},
    }


def test_enforce_denies_with_readable_message() -> None:
    out = decide(review(pod("1.9.0")))
    resp = out.body["response"]
    assert out.decision == "denied" and resp["allowed"] is False
    status = resp["status"]
    assert status["code"] == 403 and status["reason"] == "Forbidden"
    msg = status["message"]
    assert "pod shop/api-7d9f" in msg
    assert (
        "container web: threat_protection: DDTRACE_TOO_OLD (required >=1.10.0, observed 1.9.0)"
        in msg
    )


def test_warn_mode_admits_with_warnings() -> None:
    out = decide(review(pod("1.9.0")), mode="warn")
    resp = out.body["response"]
    assert out.decision == "warned" and resp["allowed"] is True
    assert any("DDTRACE_TOO_OLD" in w for w in resp["warnings"])


def test_audit_mode_admits_and_records() -> None:
    out = decide(review(pod("1.9.0")), mode="audit")
    assert out.decision == "audited"
    assert out.body["response"] == {"uid": out.body["response"]["uid"], "allowed": True}
    assert any(not r.compliant for r in out.results)


def test_warning_findings_are_warnings_in_enforce() -> None:
    iast = dict(PYTHON_APP, env=[{"name": "DD_IAST_ENABLED", "value": "true"}])
    out = decide(review(pod("1.20.0", containers=[iast])))
    resp = out.body["response"]
    assert out.decision == "warned" and resp["allowed"] is True
    assert resp["warnings"] == ["ddcompat: container web: code_security: PREVIEW_FEATURE"]


def test_exempt_annotation() -> None:
    out = decide(review(pod("1.0.0", annotations={"ddcompat.io/exempt": "OPS-1"})))
    assert out.decision == "exempt" and out.body["response"]["allowed"] is True


def test_dry_run_is_evaluated_but_not_a_denial() -> None:
    out = decide(review(pod("1.9.0"), dry_run=True))
    assert out.body["response"]["allowed"] is False
    assert out.decision == "dry_run"


def test_bad_annotation_is_denied_naming_it() -> None:
    out = decide(review(pod("1.20.0", annotations={"ddcompat.io/features": "teleport"})))
    assert out.decision == "denied"
    assert "ddcompat.io/features" in out.body["response"]["status"]["message"]


def test_policy_required_feature_in_namespace() -> None:
    pol = policy_mod.from_data(
        {"require": [{"features": ["custom_blocking_response"], "namespaces": ["shop"]}]}
    )
    out = decide(review(pod("1.17.0")), pol=pol)
    assert out.decision == "denied"
    assert "custom_blocking_response: DDTRACE_TOO_OLD" in out.body["response"]["status"]["message"]


def test_warnings_are_bounded() -> None:
    many = [
        dict(PYTHON_APP, name=f"c{i}", env=[{"name": "DD_IAST_ENABLED", "value": "1"}])
        for i in range(30)
    ]
    out = decide(review(pod("1.20.0", containers=many)), mode="warn")
    warnings = out.body["response"]["warnings"]
    assert len(warnings) == protocol.MAX_WARNINGS
    assert warnings[-1] == "ddcompat: and 21 more findings"


def test_policy_sees_the_owning_workload() -> None:
    p = pod("1.0.0")
    p["metadata"]["labels"] = {"pod-template-hash": "7d9f8b6c5"}
    p["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "checkout-7d9f8b6c5",
            "controller": True,
        }
    ]
    pol = policy_mod.from_data(
        {
            "exemptions": [
                {"names": ["checkout"], "kinds": ["Deployment"], "reason": "batch retiring"}
            ]
        }
    )
    out = decide(review(p), pol=pol)
    assert out.decision == "exempt"
    assert decide(review(p)).decision == "denied"  # without the exemption
    assert protocol.workload_of(
        {"ownerReferences": [{"kind": "Job", "name": "j-1", "controller": True}]}
    ) == ("Job", "j-1")
    assert protocol.workload_of({}) is None


def test_generate_name_and_request_namespace() -> None:
    p = pod("1.9.0")
    p["metadata"] = {"generateName": "api-7d9f-", "annotations": p["metadata"]["annotations"]}
    out = decide(review(p))
    assert "pod shop/api-7d9f-" in out.body["response"]["status"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        review(None, operation="DELETE"),
        review(pod("1.0.0"), operation="DELETE"),
        review({"metadata": {"name": "x"}}, kind="Deployment"),
        review(pod("1.0.0"), operation="CONNECT"),
    ],
)
def test_not_ours_is_allowed(body: dict[str, Any]) -> None:
    out = decide(body)
    assert out.decision == "skipped" and out.body["response"]["allowed"] is True


@pytest.mark.parametrize(
    ("mutate", "status", "text"),
    [
        (lambda b: b.update(apiVersion="admission.k8s.io/v1beta1"), 400, "v1beta1"),
        (lambda b: b.pop("request"), 400, "request is missing"),
        (lambda b: b["request"].pop("uid"), 400, "request.uid"),
        (lambda b: b.update(kind="Pod"), 400, "AdmissionReview"),
        (lambda b: b["request"].update(object="nope"), 400, "request.object"),
        (lambda b: b["request"].pop("kind"), 400, "request.kind"),
    ],
)
def test_malformed_requests_raise_typed_errors(mutate: Any, status: int, text: str) -> None:
    body = review(pod("1.20.0"))
    mutate(body)
    with pytest.raises(protocol.AdmissionError) as exc:
        decide(body)
    assert exc.value.status == status and text in str(exc.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        json_values,
        json_values.map(lambda o: review(o if isinstance(o, dict) else None)),
        json_values.map(
            lambda o: review(pod("1.20.0", annotations={"ddcompat.io/features": str(o)}))
        ),
        st.builds(lambda c: review(pod("1.9.0", containers=c)), st.lists(json_values, max_size=3)),
    )
)
def test_fuzz_review_is_a_response_or_a_typed_error(body: Any) -> None:
    try:
        out = decide(body)
    except protocol.AdmissionError as exc:
        assert 400 <= exc.status < 500
        return
    resp = out.body["response"]
    assert resp["uid"] == body["request"]["uid"]
    assert isinstance(resp["allowed"], bool)


def test_a_non_string_template_hash_names_no_deployment() -> None:
    # Hypothesis found it: a number label crashed the owner lookup. The API server only
    # sends string labels, so such a Pod is judged as its ReplicaSet's.
    p = _rs_pod("api-5d8f-aaaaa", "1.9.0")
    p["metadata"]["labels"] = {"pod-template-hash": 1}
    p["metadata"]["ownerReferences"][0]["name"] = "api-1"
    out = decide(review(p, uid="u-int-hash"))
    assert out.body["response"]["uid"] == "u-int-hash"  # a well-formed answer
    assert protocol.workload_of(p["metadata"]) == ("ReplicaSet", "api-1")


def _rs_pod(name: str, ddtrace: str) -> dict[str, Any]:
    p = pod(ddtrace, name=name)
    p["metadata"]["labels"] = {"pod-template-hash": "5d8f"}
    p["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-5d8f", "controller": True}
    ]
    return p


def test_decision_cache_reuses_judgements_of_identical_pods() -> None:
    judge = protocol.Judge(SEED, cache_size=4)
    cache = judge.decisions
    assert cache is not None

    def run(body: Any, mode: protocol.Mode = "enforce") -> protocol.Outcome:
        return protocol.review(body, judge=judge, mode=mode)

    first = run(review(_rs_pod("api-5d8f-aaaaa", "1.9.0"), uid="u1"))
    second = run(review(_rs_pod("api-5d8f-bbbbb", "1.9.0"), uid="u2"))
    assert (cache.misses, cache.hits) == (1, 1)
    # the answer is still made per request: its uid and its pod's name
    assert second.body["response"]["uid"] == "u2"
    assert "pod shop/api-5d8f-bbbbb" in second.body["response"]["status"]["message"]
    assert first.results == second.results
    # mode and dryRun are per request too
    assert run(review(_rs_pod("api-5d8f-ccccc", "1.9.0")), mode="warn").decision == "warned"
    assert run(review(_rs_pod("api-5d8f-ddddd", "1.9.0"), dry_run=True)).decision == "dry_run"
    assert cache.hits == 3
    # different content is judged again
    assert run(review(_rs_pod("api-5d8f-eeeee", "1.20.0"))).decision == "allowed"
    assert cache.misses == 2
    # bare pods are keyed by their own names
    run(review(pod("1.9.0", name="one")))
    run(review(pod("1.9.0", name="two")))
    assert cache.misses == 4
    assert len(cache) == 4
    run(review(pod("1.9.0", name="three")))
    assert len(cache) == 4  # bounded, least recently used out


def test_decision_cache_matches_uncached_answers() -> None:
    judge = protocol.Judge(SEED)
    bodies = [
        review(_rs_pod(f"api-5d8f-{i}", v), uid=f"u{i}")
        for i, v in enumerate(["1.9.0", "1.20.0"] * 3)
    ]
    for body in bodies:
        plain = protocol.review(body, judge=protocol.Judge(SEED, cache_size=0), mode="enforce")
        cached = protocol.review(body, judge=judge, mode="enforce")
        assert plain.body == cached.body and plain.decision == cached.decision


def _update(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    body = review(new, operation="UPDATE")
    body["request"]["oldObject"] = old
    return body


def _both_paths(body: dict[str, Any]) -> list[protocol.Outcome]:
    """The review decided from raw bytes (typed path) and from parsed JSON."""
    import json

    return [decide(json.dumps(body).encode()), decide(body)]


def test_metadata_updates_of_a_running_pod_are_never_denied() -> None:
    """Issue 14.6: a namespace switched to enforce can still label, annotate and delete its
    old noncompliant pods (finalizer removal is an UPDATE)."""
    old = pod("1.9.0")
    old["metadata"]["finalizers"] = ["example.com/cleanup"]
    relabelled = pod("1.9.0", annotations={"team": "payments"})
    relabelled["metadata"]["labels"] = {"app": "api"}
    unfinalized = pod("1.9.0")
    unfinalized["metadata"]["finalizers"] = []
    deleting = pod("1.9.0")
    deleting["metadata"]["deletionTimestamp"] = "2026-12-02T17:00:00Z"
    for new in (relabelled, unfinalized, deleting):
        for out in _both_paths(_update(new, old)):
            assert out.decision == "skipped" and out.body["response"]["allowed"] is True


def test_an_update_that_changes_an_image_is_judged() -> None:
    old = pod("1.9.0")
    new = pod("1.9.0")
    new["spec"]["containers"][0]["image"] = "python:3.12-slim"
    for out in _both_paths(_update(new, old)):
        assert out.decision == "denied"


def test_a_finding_made_before_the_deadline_denies_in_enforce() -> None:
    # issue 23.4: slow work never turns a denial into an admission "per the failure mode"
    import copy
    import itertools

    containers = [dict(copy.deepcopy(PYTHON_APP), name=f"c{i}") for i in range(10)]
    body = review(pod("1.8.0", containers=containers))
    ticks = itertools.count()
    judge = protocol.Judge(SEED, policy_mod.DEFAULT, cache_size=0)
    with pytest.raises(protocol.DeadlineExceeded) as info:
        # one tick per clock reading: the deadline passes after a few containers
        protocol.review(body, judge=judge, mode="enforce", deadline=3.5, clock=lambda: next(ticks))
    assert info.value.failing  # what was judged in time already fails
    out = protocol.failure_response(info.value, allow=True, why="deadline", mode="enforce")
    assert out.body["response"]["allowed"] is False and out.decision == "denied"
    assert "the rest was not judged" in out.body["response"]["status"]["message"]
    # warn mode still only warns
    warned = protocol.failure_response(info.value, allow=True, why="deadline", mode="warn")
    assert warned.body["response"]["allowed"] is True


def test_the_next_answer_after_midnight_is_judged_on_the_new_day() -> None:
    # issue 24.3: the decision cache was keyed without the day, so a pod judged on the
    # last day of 3.x maintenance kept that answer after midnight
    import datetime

    current = matrix_mod.load(edition="current")
    eve = datetime.datetime(2026, 5, 30, 23, 59, 50).timestamp()
    now = [eve]
    judge = protocol.Judge(current, policy_mod.DEFAULT, clock=lambda: now[0])
    body = review(pod("3.19.0"))

    def codes() -> set[str]:
        out = protocol.review(body, judge=judge, mode="warn")
        return {code for _, code in out.findings} | {
            x.code for r in out.results for f in r.features.values() for x in f.reasons
        }

    before = codes()
    assert "MAINTENANCE_BRANCH" in before and "DDTRACE_END_OF_LIFE" not in before
    assert codes() == before  # (the same day: answered from the decision cache)
    assert judge.decisions is not None and judge.decisions.hits == 1
    now[0] = eve + 20  # 2026-05-31 00:00:10: 3.x is at its end of life
    after = codes()
    assert "DDTRACE_END_OF_LIFE" in after and "MAINTENANCE_BRANCH" not in after
