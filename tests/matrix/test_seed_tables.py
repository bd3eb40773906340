"""One table-driven test per seed table (shared/seed/FACTS.md): every row of every table
is exercised, edges included. The expectations below are transcribed from the seed."""

from __future__ import annotations

from typing import Any

import pytest

from ddcompat.shared import matrix as matrix_mod
from tests.conftest import Evaluate, codes

# --- Table 1: features and minimum ddtrace ---------------------------------------------
# feature, minimum, last version below it
FEATURE_MINIMUMS = [
    ("threat_detection", "1.9.0", "1.8.9"),
    ("threat_protection", "1.10.0", "1.9.3"),
    ("custom_blocking_response", "1.19.0", "1.18.2"),
    ("sca", "1.5.0", "1.4.5"),
    ("user_activity_tracking", "1.17.0", "1.16.1"),
]


def test_matrix_has_every_seed_feature(seed_matrix: matrix_mod.Matrix) -> None:
    seen = {f.id: (f.min_ddtrace, f.preview) for f in seed_matrix.features}
    expected: dict[str, tuple[str | None, bool]] = {f: (m, False) for f, m, _ in FEATURE_MINIMUMS}
    expected |= {"code_security": (None, True), "api_security": ("2.6.0", False)}
    assert seen == expected
    assert all(f.source.startswith("seed:") for f in seed_matrix.features)


@pytest.mark.parametrize(("feature", "minimum", "below"), FEATURE_MINIMUMS)
def test_feature_minimum_version(
    evaluate: Evaluate, feature: str, minimum: str, below: str
) -> None:
    fw = (("django", "4.2"),)
    at = evaluate(ddtrace=minimum, features=(feature,), frameworks=fw)
    assert at.features[feature].status == "supported", at.features[feature]
    old = evaluate(ddtrace=below, features=(feature,), frameworks=fw)
    assert old.features[feature].status == "unsupported"
    reason = old.features[feature].reasons[0]
    assert (reason.code, reason.severity, reason.required, reason.observed) == (
        "DDTRACE_TOO_OLD",
        "error",
        f">={minimum}",
        below,
    )


def test_threat_detection_edge_1_8_x_vs_1_9_0(evaluate: Evaluate) -> None:
    assert evaluate(ddtrace="1.8.99").features["threat_detection"].status == "unsupported"
    assert evaluate(ddtrace="1.9.0").features["threat_detection"].status == "supported"
    # a pre-release of 1.9.0 is older than 1.9.0
    assert evaluate(ddtrace="1.9.0rc1").features["threat_detection"].status == "unsupported"


def test_protection_edge_1_9_vs_1_10(evaluate: Evaluate) -> None:
    r = evaluate(ddtrace="1.9.5", features=("threat_detection", "threat_protection"))
    assert r.features["threat_detection"].status == "supported"
    assert r.features["threat_protection"].status == "unsupported"
    assert evaluate(ddtrace="1.10.0", features=("threat_protection",)).compliant


def test_code_security_is_preview(evaluate: Evaluate) -> None:
    r = evaluate(ddtrace="1.20.0", features=("code_security",))
    assert r.features["code_security"].status == "preview"
    assert codes(r, "code_security") == ["PREVIEW_FEATURE"]
    assert r.features["code_security"].reasons[0].severity == "warning"


def test_api_security_needs_2_6_and_seed_has_no_runtimes_for_2x(evaluate: Evaluate) -> None:
    old = evaluate(ddtrace="2.5.2", features=("api_security",))
    assert old.features["api_security"].status == "unsupported"
    assert "DDTRACE_TOO_OLD" in codes(old, "api_security")
    new = evaluate(ddtrace="2.6.0", features=("api_security",))
    # never a guess: the seed lists runtimes only for ddtrace<2
    assert new.features["api_security"].status == "unknown"
    assert codes(new, "api_security") == ["MATRIX_NOT_COVERED"]


# --- Table 2: deployment types ---------------------------------------------------------
DEPLOYMENTS = [
    ("docker", True, True),
    ("kubernetes", True, True),
    ("ecs", True, True),
    ("fargate", True, True),
    ("lambda", True, False),
]


@pytest.mark.parametrize(("dtype", "detection", "sca"), DEPLOYMENTS)
def test_deployment_types(evaluate: Evaluate, dtype: str, detection: bool, sca: bool) -> None:
    r = evaluate(deployment_type=dtype, features=("threat_detection", "sca"))
    assert (r.features["threat_detection"].status == "supported") is detection
    assert (r.features["sca"].status == "supported") is sca
    if not sca:
        assert codes(r, "sca") == ["DEPLOYMENT_UNSUPPORTED"]
        assert r.features["sca"].reasons[0].observed == "lambda"


def test_deployment_rows_match_seed(seed_matrix: matrix_mod.Matrix) -> None:
    rows: dict[tuple[str, str], bool] = {
        (d.deployment_type, d.feature): d.supported for d in seed_matrix.deployments
    }
    for dtype, detection, sca in DEPLOYMENTS:
        assert rows[(dtype, "threat_detection")] is detection
        assert rows[(dtype, "sca")] is sca


# --- Table 3: release branches ---------------------------------------------------------
@pytest.mark.parametrize(
    ("ddtrace", "maintenance"),
    [("0.61.5", True), ("0.9", True), ("1.0.0", False), ("1.20.3", False), ("1.99", False)],
)
def test_release_branches(evaluate: Evaluate, ddtrace: str, maintenance: bool) -> None:
    r = evaluate(ddtrace=ddtrace, features=("sca",))
    found = [x for x in r.features["sca"].reasons if x.code == "MAINTENANCE_BRANCH"]
    assert bool(found) is maintenance
    if found:
        assert found[0].severity == "info"


# --- Table 4: runtimes -----------------------------------------------------------------
# os, arch, python, expected status
RUNTIMES = [
    ("linux", "amd64", "2.7", "supported"),
    ("linux", "amd64", "3.5", "supported"),
    ("linux", "386", "3.8", "supported"),
    ("linux", "arm64", "3.11", "supported"),
    ("linux", "amd64", "3.11.9", "supported"),
    ("linux", "amd64", "3.12", "unsupported"),
    ("linux", "amd64", "3.4", "unsupported"),
    ("linux", "amd64", "2.6", "unsupported"),
    ("linux", "arm", "3.11", "unsupported"),  # 32-bit arm is not in the seed
    ("linux", "s390x", "3.11", "unsupported"),
    ("darwin", "amd64", "3.9", "supported"),
    ("darwin", "arm64", "3.11", "supported"),
    ("darwin", "386", "3.9", "unsupported"),
    ("windows", "amd64", "3.10", "supported"),
    ("windows", "386", "2.7", "supported"),
    ("windows", "arm64", "3.10", "unsupported"),
    ("windows", "amd64", "3.12", "unsupported"),
    ("freebsd", "amd64", "3.10", "unsupported"),
]


@pytest.mark.parametrize(("os", "arch", "python", "status"), RUNTIMES)
def test_runtimes(evaluate: Evaluate, os: str, arch: str, python: str, status: str) -> None:
    r = evaluate(os=os, arch=(arch,), python=python)
    assert r.features["threat_detection"].status == status
    if status == "unsupported":
        assert set(codes(r, "threat_detection")) <= {"PYTHON_UNSUPPORTED", "PLATFORM_UNSUPPORTED"}


def test_every_runtime_row_is_exercised(seed_matrix: matrix_mod.Matrix) -> None:
    covered = {(o, a) for o, a, _, s in RUNTIMES if s == "supported"}
    for row in seed_matrix.runtimes:
        for arch in row.arch:
            assert (row.os, arch) in covered, (row.os, arch)


def test_python_3_12_reason_names_versions(evaluate: Evaluate) -> None:
    r = evaluate(python="3.12")
    reason = r.features["threat_detection"].reasons[0]
    assert reason.code == "PYTHON_UNSUPPORTED"
    assert reason.required == "2.7, 3.5-3.11"
    assert reason.observed == "3.12"


def test_ddtrace_2_runtimes_not_covered(evaluate: Evaluate) -> None:
    r = evaluate(ddtrace="2.6.1", python="3.11")
    assert r.features["threat_detection"].status == "unknown"
    assert codes(r, "threat_detection") == ["MATRIX_NOT_COVERED"]


def test_windows_nodes(evaluate: Evaluate) -> None:
    assert evaluate(os="windows", arch=("amd64",)).compliant
    r = evaluate(os="windows", arch=("arm64",))
    assert codes(r, "threat_detection") == ["PLATFORM_UNSUPPORTED"]


def test_unknown_arch_is_not_checked(evaluate: Evaluate) -> None:
    r = evaluate(arch=())
    assert r.features["threat_detection"].status == "supported"
    assert "platform" in r.not_checked


def test_mixed_arch_node_pool_is_unknown(evaluate: Evaluate) -> None:
    r = evaluate(arch=("amd64", "arm"))
    assert r.features["threat_detection"].status == "unknown"


# --- Table 5: web frameworks -----------------------------------------------------------
FRAMEWORKS = [
    ("django", "1.8", "supported"),
    ("django", "1.8.19", "supported"),
    ("django", "4.2.16", "supported"),
    ("django", "1.7.11", "unsupported"),
    ("flask", "0.10", "supported"),
    ("flask", "3.0.3", "supported"),
    ("flask", "0.9", "unsupported"),
    ("fastapi", "0.110.0", "unsupported"),  # not in the seed's list
    ("django", ">=1.7", "unknown"),  # a range partly below the minimum
    ("django", "", "unknown"),  # version not known
]


@pytest.mark.parametrize("feature", ["threat_detection", "threat_protection"])
@pytest.mark.parametrize(("name", "version", "status"), FRAMEWORKS)
def test_frameworks(evaluate: Evaluate, feature: str, name: str, version: str, status: str) -> None:
    r = evaluate(features=(feature,), frameworks=((name, version),))
    assert r.features[feature].status == status
    if status != "supported":
        assert "FRAMEWORK_UNSUPPORTED" in codes(r, feature)


def test_flask_query_string_caveat(evaluate: Evaluate) -> None:
    r = evaluate(frameworks=(("flask", "2.3.3"),))
    td = r.features["threat_detection"]
    assert td.status == "supported"
    assert [(x.code, x.severity) for x in td.reasons] == [("FLASK_QUERY_STRING", "info")]
    assert r.compliant


def test_sca_works_on_every_framework(evaluate: Evaluate) -> None:
    r = evaluate(features=("sca",), frameworks=(("fastapi", "0.110"),))
    assert r.features["sca"].status == "supported"


def test_frameworks_not_declared_are_not_checked(evaluate: Evaluate) -> None:
    r = evaluate(frameworks=None)
    assert r.features["threat_detection"].status == "supported"
    assert "frameworks" in r.not_checked


# --- Table 6: user authentication frameworks -------------------------------------------
AUTH = [
    ("1.11.29", "supported"),
    ("2.2", "supported"),
    ("2.2.28", "supported"),
    ("3.2.18", "supported"),
    ("4.0", "supported"),
    ("5.1.2", "supported"),
    ("2.0.13", "unsupported"),  # Django 2.0 vs 2.2
    ("1.10.8", "unsupported"),
    ("3.0.14", "unsupported"),
    ("3.1", "unsupported"),
]


@pytest.mark.parametrize(("django", "status"), AUTH)
def test_auth_frameworks(evaluate: Evaluate, django: str, status: str) -> None:
    r = evaluate(features=("user_activity_tracking",), frameworks=(("django", django),))
    assert r.features["user_activity_tracking"].status == status
    if status == "unsupported":
        assert codes(r, "user_activity_tracking") == ["AUTH_FRAMEWORK_UNSUPPORTED"]


def test_user_tracking_on_flask_has_no_auth_framework(evaluate: Evaluate) -> None:
    r = evaluate(features=("user_activity_tracking",), frameworks=(("flask", "2.3"),))
    assert codes(r, "user_activity_tracking") == ["AUTH_FRAMEWORK_UNSUPPORTED"]


# --- Caveats and notes -----------------------------------------------------------------
def test_remote_config_off_blocks_protection(evaluate: Evaluate) -> None:
    r = evaluate(features=("threat_detection", "threat_protection"), remote_config=False)
    assert r.features["threat_detection"].status == "supported"
    assert codes(r, "threat_protection") == ["REMOTE_CONFIG_DISABLED"]
    assert evaluate(features=("threat_protection",), remote_config=None).compliant


def test_every_caveat_row_has_a_source(seed_matrix: matrix_mod.Matrix) -> None:
    rows: list[Any] = [*seed_matrix.caveats, *seed_matrix.notes, *seed_matrix.auth_frameworks]
    assert rows and all(r.source for r in rows)
