"""Policy: severities, required features per namespace/labels, exemptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from ddcompat.shared import policy
from tests.conftest import Evaluate, codes


def test_severity_override_and_drop(evaluate: Evaluate) -> None:
    pol = policy.from_data({"severities": {"PREVIEW_FEATURE": "error", "MAINTENANCE_BRANCH": None}})
    r = evaluate(pol, features=("code_security",))
    assert r.features["code_security"].reasons[0].severity == "error"
    assert not r.compliant
    old = evaluate(pol, ddtrace="0.60.0", features=("sca",))
    assert "MAINTENANCE_BRANCH" not in codes(old, "sca")


def test_required_feature_in_namespace_when_using(evaluate: Evaluate) -> None:
    pol = policy.from_data(
        {
            "require": [
                {
                    "features": ["threat_protection"],
                    "namespaces": ["prod"],
                    "when_using": ["threat_detection"],
                }
            ]
        }
    )
    r = evaluate(pol, namespace="prod", ddtrace="1.9.0")
    assert r.features["threat_protection"].required_by_policy
    assert r.features["threat_protection"].status == "unsupported"
    assert not r.compliant
    # other namespaces, or workloads not using appsec, are not required
    assert "threat_protection" not in evaluate(pol, namespace="dev", ddtrace="1.9.0").features
    assert evaluate(pol, namespace="prod", features=("sca",)).features.keys() == {"sca"}


def test_required_by_label_selector(evaluate: Evaluate) -> None:
    pol = policy.from_data(
        {"require": [{"features": ["sca"], "match_labels": {"tier": "frontend"}}]}
    )
    r = evaluate(pol, labels=(("tier", "frontend"),), deployment_type="lambda")
    assert codes(r, "sca") == ["DEPLOYMENT_UNSUPPORTED"]
    assert "sca" not in evaluate(pol, labels=(("tier", "backend"),)).features


def test_exemption_by_policy_and_feature(evaluate: Evaluate) -> None:
    pol = policy.from_data(
        {
            "exemptions": [
                {"namespaces": ["legacy"], "reason": "retiring"},
                {"names": ["batch-*"], "features": ["threat_detection"], "reason": "batch"},
            ]
        }
    )
    r = evaluate(pol, namespace="legacy", ddtrace="1.0.0")
    assert r.exempt == "retiring" and not r.fails_at("error")
    b = evaluate(pol, name="batch-7", ddtrace="1.0.0")
    assert b.exempt is None
    assert [x.severity for x in b.features["threat_detection"].reasons] == ["info"]
    assert not b.fails_at("warning")


def test_annotation_exemption_is_kept(evaluate: Evaluate) -> None:
    r = evaluate(ddtrace="1.0.0", exempt="ticket OPS-1")
    assert r.exempt == "ticket OPS-1"
    assert not r.compliant and not r.fails_at("error")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("severities: {NOT_A_CODE: error}\n", "severities.NOT_A_CODE"),
        ("severities: {PREVIEW_FEATURE: fatal}\n", "severities.PREVIEW_FEATURE"),
        ("require: [{namespaces: [prod]}]\n", "require.0.features"),
        ("exemptions: [{namespaces: [x]}]\n", "exemptions.0.reason"),
        ("requires: []\n", "requires"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_bad_policy_names_file_and_field(tmp_path: Path, text: str, expected: str) -> None:
    p = tmp_path / "policy.yaml"
    p.write_text(text)
    with pytest.raises(policy.PolicyError) as exc:
        policy.load(p)
    assert str(p) in str(exc.value) and expected in str(exc.value)


@pytest.mark.parametrize(
    ("annotations", "namespace", "exempt"),
    [
        (None, "team-a", True),  # no word in the policy: allowed (as before)
        ("allow", "team-a", True),
        ("deny", "team-a", False),
        ({"namespaces": ["legacy-*"]}, "legacy-billing", True),
        ({"namespaces": ["legacy-*"]}, "team-a", False),
    ],
)
def test_self_exemption_only_where_the_policy_allows_it(
    evaluate: Evaluate, annotations: object, namespace: str, exempt: bool
) -> None:
    """Issue 14.9: any developer can write ddcompat.io/exempt on their own pod."""
    data: dict[str, object] = {}
    if annotations is not None:
        data = {"exemptions": {"annotations": annotations}}
    pol = policy.from_data(data)
    r = evaluate(pol, namespace=namespace, ddtrace="1.4.0", features=("sca",), exempt="trust me")
    assert (r.exempt is not None) is exempt
    assert r.exempt_source == ("annotation" if exempt else None)
    assert r.exempt_refused is (not exempt)
    assert r.fails_at("error") is (not exempt)


def test_policy_rules_still_exempt_where_annotations_are_denied(evaluate: Evaluate) -> None:
    pol = policy.from_data(
        {
            "exemptions": {
                "annotations": "deny",
                "rules": [{"namespaces": ["legacy"], "reason": "retired in Q3"}],
            }
        }
    )
    r = evaluate(pol, namespace="legacy", ddtrace="1.9.0", exempt="mine")
    assert r.exempt == "retired in Q3" and r.exempt_source == "policy" and r.exempt_refused


def test_the_list_form_of_exemptions_still_reads(evaluate: Evaluate) -> None:
    pol = policy.from_data({"exemptions": [{"namespaces": ["legacy"], "reason": "old"}]})
    assert evaluate(pol, namespace="legacy", ddtrace="1.9.0").exempt_source == "policy"
