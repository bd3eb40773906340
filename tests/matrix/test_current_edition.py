"""The `current` edition: each table pinned row by row to the fact it restates
(../shared/facts/DATADOG-FACTS.md section, or the release list beside this file)."""

from __future__ import annotations

import csv
import datetime
import json
from pathlib import Path

import pytest

from ddcompat.shared import cli, evaluator, lambda_layers, model, parsers, policy, report, signals
from ddcompat.shared import matrix as matrix_mod

CURRENT = matrix_mod.load(edition="current")
SEED = matrix_mod.load(edition="seed")
# Copy of ../shared/facts/ddtrace-releases.tsv: every stable DataDog/dd-trace-py tag, its
# date and python_requires as read from pyproject.toml/setup.py at that tag.
RELEASES = Path(__file__).parent / "current" / "ddtrace-releases.tsv"
DAY = datetime.date(2026, 12, 2)


def judge(
    ddtrace: str | None,
    python: str | None = "3.11",
    features: tuple[str, ...] = ("threat_detection",),
    os: str = "linux",
    arch: tuple[str, ...] = ("amd64",),
    as_of: datetime.date = DAY,
    deployment_type: model.DeploymentType = "kubernetes",
    matrix: matrix_mod.Matrix = CURRENT,
) -> model.WorkloadResult:
    facts = model.Facts(
        deployment_type, ddtrace, python, model.Platform(os, arch), frozenset(features)
    )
    w = model.WorkloadContainer("f.yaml", "Deployment", "ns", "app", "app", facts)
    return evaluator.evaluate(w, matrix, as_of=as_of)


def codes_of(r: model.WorkloadResult, feature: str = "threat_detection") -> set[str]:
    return {x.code for x in r.features[feature].reasons}


def _releases() -> list[tuple[str, str]]:
    with RELEASES.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [(r["version"], r["python_requires"]) for r in rows if r["version"][0] in "1234"]


def _lowest_python(requires: str) -> tuple[int, int]:
    first = requires.split(",")[0].strip().removeprefix(">=")
    major, minor = first.split(".")[:2]
    return int(major), int(minor)


RELEASE_ROWS = _releases()


def test_every_listed_release_is_covered_and_its_python_floor_holds() -> None:
    """For each stable tag 1.0-4.x: judged on the matrix (never MATRIX_NOT_COVERED), its
    lowest python_requires version is a supported runtime on Linux x86-64, the version
    below it is not, and an upper bound (<3.15) excludes that version."""
    assert len(RELEASE_ROWS) > 450
    for version, requires in RELEASE_ROWS:
        major, minor = _lowest_python(requires)
        lowest = judge(version, f"{major}.{minor}")
        assert "MATRIX_NOT_COVERED" not in codes_of(lowest), version
        assert "PYTHON_UNSUPPORTED" not in codes_of(lowest), (version, requires)
        below = "3.6" if (major, minor) == (3, 7) else f"{major}.{minor - 1}"
        if (major, minor) != (2, 7):
            assert "PYTHON_UNSUPPORTED" in codes_of(judge(version, below)), (version, below)
        if "<3.15" in requires:
            assert "PYTHON_UNSUPPORTED" in codes_of(judge(version, "3.15")), version


# (ddtrace, python, os, arch, unsupported?, fact)
RUNTIMES = [
    ("1.20.19", "3.11", "linux", "386", False, "2.4 v1.20.19 supported runtimes: Linux i686"),
    ("1.20.19", "3.12", "linux", "amd64", True, "3.1 '<2': CPython 2.7, 3.5-3.11"),
    ("2.6.0", "3.13", "linux", "amd64", True, "2.2 v2.6.0 wheels cp37-cp312"),
    ("2.21.12", "3.13", "linux", "amd64", False, "2.2 v2.21.12 wheels cp313"),
    ("2.21.12", "3.13", "windows", "amd64", True, "2.2 v2.21.12 Windows 'grep -v 313'"),
    ("3.0.0", "3.7", "linux", "amd64", True, "2.1 v3.0.0 requires >=3.8"),
    ("3.8.0", "3.13", "windows", "amd64", True, "2.2 Windows 3.13 wheels first at v3.9.0"),
    ("3.9.0", "3.13", "windows", "amd64", False, "2.2 Windows 3.13 wheels first at v3.9.0"),
    ("3.15.0", "3.14", "linux", "amd64", True, "2.1 v3.16.0 note: 3.14 support added"),
    ("3.19.8", "3.14", "linux", "arm64", False, "2.2 v3.19.8 cp314, Linux aarch64"),
    ("3.19.8", "3.11", "linux", "386", False, "3.1 '>=3,<4': Linux i686"),
    ("4.0.0", "3.11", "linux", "386", True, "2.2 v4.0.0 no Linux i686 (no-linux-32bit note)"),
    ("4.13.1", "3.14", "linux", "arm64", False, "2.2 v4.13.1 cp39-cp314 aarch64"),
    ("4.13.1", "3.8", "linux", "amd64", True, "2.1 v4.0.0 requires >=3.9"),
    ("4.13.1", "3.12", "windows", "386", False, "2.2 v4.13.1 Windows x86 still built"),
    ("4.13.1", "3.12", "windows", "arm64", False, "2.2 v4.13.1 win_arm64 cp311+"),
    ("4.13.1", "3.10", "windows", "arm64", True, "2.2 v4.13.1 win_arm64 skips cp310"),
]


@pytest.mark.parametrize(
    ("ddtrace", "python", "os", "arch", "unsupported", "fact"),
    RUNTIMES,
    ids=[f"{r[0]}-py{r[1]}-{r[2]}-{r[3]}" for r in RUNTIMES],
)
def test_runtimes_per_release_line(
    ddtrace: str, python: str, os: str, arch: str, unsupported: bool, fact: str
) -> None:
    found = codes_of(judge(ddtrace, python, os=os, arch=(arch,)))
    assert ({"PYTHON_UNSUPPORTED", "PLATFORM_UNSUPPORTED"} & found != set()) is unsupported, fact
    assert "MATRIX_NOT_COVERED" not in found


def test_a_range_across_a_lines_rows_is_judged_as_the_union() -> None:
    # v3 (>=3,<4) spans rows split where the wheel set changed (3.16: Python 3.14)
    whole = judge(">=3,<4", "3.11")
    assert whole.features["threat_detection"].status == "supported"
    part = judge(">=3,<4", "3.14")
    assert part.features["threat_detection"].status == "unknown"
    assert "PYTHON_UNSUPPORTED" in codes_of(part) and "MATRIX_NOT_COVERED" not in codes_of(part)
    assert judge(">=3,<4", "3.7").features["threat_detection"].status == "unsupported"


# (ddtrace, day, code or None, fact)
LIFECYCLE = [
    (
        "2.21.12",
        "2025-06-01",
        "MAINTENANCE_BRANCH",
        "3.1 3.x-era: 2.x Maintenance until Oct 31, 2025",
    ),
    ("2.21.12", "2025-10-31", "DDTRACE_END_OF_LIFE", "3.1 2.x End of Life October 31, 2025"),
    ("3.19.8", "2025-06-01", None, "3.1 3.x-era: 3.x GA"),
    ("3.19.8", "2026-01-10", "MAINTENANCE_BRANCH", "3.1 3.x Maintenance until May 31, 2026"),
    ("3.19.8", "2026-05-31", "DDTRACE_END_OF_LIFE", "3.1 3.x Maintenance until May 31, 2026"),
    ("4.13.1", "2026-12-02", None, "3.1 4.x General Availability"),
    ("1.20.19", "2024-01-01", "MAINTENANCE_BRANCH", "2.4 v2.6.0 docs: >=1.0,<2 Maintenance"),
    ("1.20.19", "2026-12-02", "DDTRACE_END_OF_LIFE", "3.1 '<2' End of Life"),
]


@pytest.mark.parametrize(("ddtrace", "day", "code", "fact"), LIFECYCLE)
def test_lifecycle_as_of_a_date(ddtrace: str, day: str, code: str | None, fact: str) -> None:
    r = judge(ddtrace, as_of=datetime.date.fromisoformat(day))
    lifecycle = codes_of(r) & {"MAINTENANCE_BRANCH", "DDTRACE_END_OF_LIFE"}
    assert lifecycle == ({code} if code else set()), fact
    # a lifecycle finding never makes a working feature unsupported, and warns at most
    assert r.features["threat_detection"].status == "supported"
    assert r.max_severity in (None, "info", "warning")


# (feature, minimum, fact)
MINIMUMS = [
    ("threat_detection", "1.16.0", "3.2(a) HTTP Monitoring 1.16.0"),
    ("exploit_prevention", "2.20.0", "3.2(a) Exploit Prevention 2.20.0"),
    ("account_takeover_protection", "2.11.0", "3.2(a) Account Takeover Protection 2.11.0"),
    ("api_security", "4.6.0", "3.2(a) API Security 4.6.0"),
    ("code_security", "3.15.0", "3.2(a) Runtime Code Analysis (IAST) 3.15.0"),
    ("sca", "1.5.0", "3.2(a) Runtime SCA 1.5.0"),
]


@pytest.mark.parametrize(("feature", "minimum", "fact"), MINIMUMS)
def test_capability_minimums(feature: str, minimum: str, fact: str) -> None:
    at = judge(minimum, "3.8" if minimum < "2" else "3.11", (feature,))
    assert at.features[feature].status == "supported", fact
    major, minor, _ = minimum.split(".")
    below = f"{major}.{int(minor) - 1}.0"
    assert "DDTRACE_TOO_OLD" in codes_of(judge(below, "3.8", (feature,)), feature), fact


def test_code_security_is_no_longer_preview_on_current_only() -> None:
    assert judge("4.13.1", features=("code_security",)).features["code_security"].status == (
        "supported"
    )
    seed = judge("1.20.0", features=("code_security",), matrix=SEED)
    assert seed.features["code_security"].status == "preview"


def test_lambda_is_threat_detection_only() -> None:
    r = judge(
        "4.13.1", features=("threat_detection", "exploit_prevention"), deployment_type="lambda"
    )
    assert r.features["threat_detection"].status == "supported"
    assert "DEPLOYMENT_UNSUPPORTED" in codes_of(r, "exploit_prevention")


def test_rasp_variable_turns_on_exploit_prevention() -> None:
    features, _ = signals.features_from_env({"DD_APPSEC_RASP_ENABLED": "true"})
    assert features == {"exploit_prevention"}


def test_every_row_names_its_source() -> None:
    for section in matrix_mod.SECTIONS:
        for row in getattr(CURRENT, section):
            assert row.source.strip(), (section, row)
    assert CURRENT.edition == "current" and SEED.edition == "seed"


def test_a_2026_fleet_is_judged_on_current_and_not_on_seed() -> None:
    fleet = str(Path(__file__).parent / "current" / "fleet-2026.yaml")
    current = cli.run_check([fleet], CURRENT, policy.DEFAULT, as_of=DAY)
    seed = cli.run_check([fleet], SEED, policy.DEFAULT, as_of=DAY)
    assert len(current.results) == len(seed.results) == 6 and not current.errors

    def found(run: report.Run) -> set[str]:
        return {x.code for r in run.results for f in r.features.values() for x in f.reasons}

    assert "MATRIX_NOT_COVERED" not in found(current)
    assert "MATRIX_NOT_COVERED" in found(seed)  # the seed stops at ddtrace <2
    by_name = {r.workload.name: r for r in current.results}
    assert by_name["api"].features["exploit_prevention"].status == "supported"
    assert by_name["worker"].features["code_security"].status == "supported"
    assert "DDTRACE_END_OF_LIFE" in {
        x.code for x in by_name["legacy"].features["threat_detection"].reasons
    }
    assert by_name["injected"].compliant and by_name["injected-v3"].compliant


LIB_POD = """apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations: ANNOTATIONS
spec:
  containers:
    - {name: web, image: "python:3.12", env: [{name: DD_APPSEC_ENABLED, value: "true"}]}
    - {name: jobs, image: "python:3.12", env: [{name: DD_APPSEC_ENABLED, value: "true"}]}
"""


def _ddtrace_of(annotations: str) -> dict[str, str | None]:
    out = parsers.parse_text(
        LIB_POD.replace("ANNOTATIONS", annotations),
        "p.yaml",
        suffix=".yaml",
        path=None,
        explicit=True,
    )
    assert not out.errors
    return {w.container: w.facts.ddtrace for w in out.workloads}


def test_library_injection_as_the_cluster_agent_reads_it() -> None:
    # section 4: python-lib.version, custom-image, and the per-container forms
    assert _ddtrace_of('{admission.datadoghq.com/python-lib.version: "v3"}') == {
        "web": "v3",
        "jobs": "v3",
    }
    assert _ddtrace_of(
        "{admission.datadoghq.com/python-lib.custom-image: "
        '"public.ecr.aws/datadog/dd-lib-python-init:v4.13.1"}'
    ) == {"web": "v4.13.1", "jobs": "v4.13.1"}
    assert _ddtrace_of(
        '{admission.datadoghq.com/python-lib.version: "v3", '
        'admission.datadoghq.com/jobs.python-lib.version: "v4"}'
    ) == {"web": "v3", "jobs": "v4"}


def test_latest_is_the_newest_release_the_edition_knows() -> None:
    # PyPI's newest ddtrace on 2026-12-08 (../shared/facts/UPDATE-2026-12.md: 4.16.0)
    assert CURRENT.latest is not None and CURRENT.latest.ddtrace == "4.16.0"
    r = judge("latest", "3.14", ("threat_detection", "api_security"))
    assert r.compliant and r.features["api_security"].status == "supported"
    assert "MATRIX_NOT_COVERED" not in codes_of(r)
    # the seed names no newest release: one finding says so, and nothing is an error
    seed = judge("latest", "3.15", matrix=SEED)
    assert [x.code for x in seed.features["threat_detection"].reasons] == [
        "DDTRACE_UNKNOWN",
        "PYTHON_UNSUPPORTED",
    ]
    assert "newest" in seed.features["threat_detection"].reasons[0].message
    assert seed.features["threat_detection"].status == "unknown"
    assert seed.max_severity == "warning"


def _from_env(ddtrace: str, env: dict[str, str], python: str = "3.11") -> model.WorkloadContainer:
    """A container with this environment, read as the signals read it."""
    reading = signals.env_switches(env)
    facts = model.Facts(
        "kubernetes",
        ddtrace,
        python,
        model.Platform("linux", ("amd64",)),
        reading.features,
        remote_config=reading.remote_config,
        settings=reading.on,
        switched_off=reading.off,
    )
    return model.WorkloadContainer("f", "Deployment", "ns", "app", "app", facts)


# (variable, value, ddtrace, feature, ignored?, fact)
SETTINGS = [
    (
        "DD_APPSEC_AUTOMATED_USER_EVENTS_TRACKING",
        "safe",
        "3.0.0",
        "user_activity_tracking",
        True,
        "1.7 removed in v3.0.0",
    ),
    (
        "DD_APPSEC_AUTOMATED_USER_EVENTS_TRACKING",
        "safe",
        "2.21.12",
        "user_activity_tracking",
        False,
        "1.7 deprecated in 2.11.0, still read until 3.0.0",
    ),
    ("DD_APPSEC_SCA_ENABLED", "true", "2.6.0", "sca", True, "1.4 first read in v2.9.0"),
    ("DD_APPSEC_SCA_ENABLED", "true", "2.9.0", "sca", False, "1.4 first read in v2.9.0"),
    ("DD_API_SECURITY_ENABLED", "true", "2.5.6", "api_security", True, "1.6 the name from v2.6.0"),
    (
        "DD_EXPERIMENTAL_API_SECURITY_ENABLED",
        "true",
        "2.5.6",
        "api_security",
        False,
        "1.6 1.18-2.5 name",
    ),
    (
        "DD_EXPERIMENTAL_API_SECURITY_ENABLED",
        "true",
        "4.13.1",
        "api_security",
        True,
        "1.6 renamed in v2.6.0",
    ),
    (
        "DD_APPSEC_AUTO_USER_INSTRUMENTATION_MODE",
        "identification",
        "2.10.0",
        "user_activity_tracking",
        True,
        "1.7 introduced in v2.11.0",
    ),
]


@pytest.mark.parametrize(("variable", "value", "ddtrace", "feature", "ignored", "fact"), SETTINGS)
def test_settings_as_each_tracer_version_reads_them(
    variable: str, value: str, ddtrace: str, feature: str, ignored: bool, fact: str
) -> None:
    reading = signals.env_switches({variable: value})
    assert feature in reading.features and variable in reading.on
    w = _from_env(ddtrace, {variable: value})
    r = evaluator.evaluate(w, CURRENT, as_of=DAY)
    reasons = [x for x in r.features[feature].reasons if x.code == "SETTING_IGNORED"]
    assert bool(reasons) is ignored, fact
    if reasons:
        assert variable in reasons[0].message and reasons[0].severity == "warning"
    # the seed edition knows nothing of settings per version
    assert "SETTING_IGNORED" not in {
        x.code for x in evaluator.evaluate(w, SEED).features[feature].reasons
    }


def test_an_ignored_legacy_variable_names_its_replacement() -> None:
    w = _from_env("4.13.1", {"DD_APPSEC_AUTOMATED_USER_EVENTS_TRACKING": "extended"}, "3.12")
    (reason,) = [
        x
        for x in evaluator.evaluate(w, CURRENT, as_of=DAY)
        .features["user_activity_tracking"]
        .reasons
        if x.code == "SETTING_IGNORED"
    ]
    assert "DD_APPSEC_AUTO_USER_INSTRUMENTATION_MODE" in reason.message


# (layer version, function python, ddtrace the layer carries, fact: its wheel's METADATA on
# PyPI and the newest ddtrace meeting it on the layer's upload day, or its release notes)
LAYERS = [
    (127, "3.12", ">=4.1.1,<=4.12.2", "8.127.0: ddtrace >=4.1.1,<5,!=4.6.* on Python >=3.10"),
    (127, "3.9", ">=3.19.1,<=3.19.8", "8.127.0: ddtrace >=3.19.1,<4 on Python 3.8-3.9"),
    (113, "3.12", ">=3.11.0,<=3.11.1", "8.113.0: ddtrace >=3.11.0,<4; newest then 3.11.1"),
    (105, "3.12", "2.20.0", "6.105.0: ddtrace >=2.20.0; newest then 2.20.0"),
    (72, "3.9", ">=1.6.4,<=1.12.1", "4.72.0: ddtrace >=1.6.4,<2.0.0; newest then 1.12.1"),
    (80, "3.9", "1.15.2", "4.80.0: ddtrace ==1.15.2"),
    (115, "3.12", ">=3.11.0,<=3.16.0", "v8.115.0 (tag only, never on PyPI): >=3.11.0,<4"),
    (128, "3.12", "4.15.2", "8.128.0 release notes: bundles ddtrace 4.15.2 on Python >=3.10"),
    (128, "3.9", "3.19.8", "8.128.0 release notes: bundles ddtrace 3.19.8 on Python 3.8-3.9"),
    (130, "3.13", "4.16.0", "8.130.0 release notes: bundles ddtrace 4.16.0"),
    (130, "3.9", "3.19.9", "8.130.0 release notes: bundles ddtrace 3.19.9"),
    # newer than the facts: the newest layer's requirement, uncapped
    (131, "3.12", ">=4.1.1,<5", "no layer 131 known on 2026-12-08: 8.130.0's requirement"),
    (131, "3.9", ">=3.19.1,<4", "no layer 131 known on 2026-12-08: 8.130.0's requirement"),
]


@pytest.mark.parametrize(("layer", "python", "carried", "fact"), LAYERS)
def test_datadog_lambda_layers_give_the_ddtrace_they_carry(
    layer: int, python: str, carried: str, fact: str
) -> None:
    arn = f"arn:aws:lambda:us-gov-west-1:002406178527:layer:Datadog-Python39-ARM:{layer}"
    assert lambda_layers.ddtrace_of(arn, python) == carried, fact


def test_a_lambda_with_a_datadog_layer_is_judged_and_says_where_ddtrace_came_from() -> None:
    doc = {
        "FunctionName": "signup",
        "Runtime": "python3.12",
        "Architectures": ["arm64"],
        "Layers": [
            {"Arn": "arn:aws:lambda:eu-west-1:464622532012:layer:Datadog-Python312-ARM:127"}
        ],
        "Environment": {
            "Variables": {"DD_SERVERLESS_APPSEC_ENABLED": "true", "DD_IAST_ENABLED": "true"}
        },
    }
    out = parsers.parse_text(json.dumps(doc), "f.json", suffix=".json", path=None, explicit=True)
    (w,) = out.workloads
    assert w.facts.features == {"threat_detection", "code_security"}
    assert w.facts.sources == model.FactSources(
        "lambda_layer", "lambda_runtime", "lambda_architectures"
    )
    r = evaluator.evaluate(w, CURRENT, as_of=DAY)
    assert r.features["threat_detection"].status == "supported"
    # IAST is not for Lambda: the finding says where the facts came from
    assert "DEPLOYMENT_UNSUPPORTED" in codes_of(r, "code_security")
    run = report.Run(matrix=CURRENT, results=[r], errors=[], as_of="2026-12-02")
    words = "ddtrace from the Datadog Lambda layer (derived from its release)"
    assert words in report.render_sarif(run, "t") and words in report.render_table(run)
    assert report.to_json(run)["workloads"][0]["facts_source"]["ddtrace"] == "lambda_layer"


def _appsec(ddtrace: str, env: dict[str, str]) -> model.WorkloadResult:
    w = _from_env(ddtrace, {"DD_APPSEC_ENABLED": "true", **env})
    return evaluator.evaluate(w, CURRENT, as_of=DAY)


def test_capabilities_on_by_default_are_judged_but_warn_at_most() -> None:
    # 1.6: API Security on by default from 2.6.0 while AppSec is on (docs minimum 4.6.0)
    r = _appsec("3.19.8", {})
    api = r.features["api_security"]
    assert api.by_default and api.status == "unsupported"
    assert {x.code: x.severity for x in api.reasons}["DDTRACE_TOO_OLD"] == "warning"
    assert r.features["exploit_prevention"].by_default  # 1.8: RASP on by default from 2.9.0
    assert r.max_severity != "error"
    # turned on explicitly: judged with the usual severity
    explicit = _appsec("3.19.8", {"DD_API_SECURITY_ENABLED": "true"}).features["api_security"]
    assert not explicit.by_default
    assert {x.code: x.severity for x in explicit.reasons}["DDTRACE_TOO_OLD"] == "error"
    # turned off: not judged; older than the default-on releases: not judged
    assert "api_security" not in _appsec("3.19.8", {"DD_API_SECURITY_ENABLED": "false"}).features
    assert "exploit_prevention" not in _appsec("2.8.0", {}).features
    # no AppSec, no default capability; none where the deployment type cannot run it
    plain = judge("4.13.1", features=("sca",))
    assert set(plain.features) == {"sca"}
    on_lambda = judge("4.13.1", features=("threat_detection",), deployment_type="lambda")
    assert "exploit_prevention" not in on_lambda.features


# (ddtrace, python, os, code expected or None, fact: DATADOG-FACTS.md 1.5)
IAST_WHERE = [
    (
        "4.0.0",
        "3.14",
        "linux",
        "PYTHON_UNSUPPORTED",
        "guard < (3, 14, 0) up to and including 4.0.0",
    ),
    ("4.0.1", "3.14", "linux", None, "guard < (3, 15, 0) from 4.0.1"),
    ("4.13.1", "3.12", "windows", "PLATFORM_UNSUPPORTED", "never on Windows"),
    ("4.13.1", "3.12", "linux", None, "Linux, supported Python"),
]


@pytest.mark.parametrize(("ddtrace", "python", "os", "code", "fact"), IAST_WHERE)
def test_where_code_security_runs(
    ddtrace: str, python: str, os: str, code: str | None, fact: str
) -> None:
    r = judge(ddtrace, python, ("code_security",), os=os)
    found = codes_of(r, "code_security") & {"PYTHON_UNSUPPORTED", "PLATFORM_UNSUPPORTED"}
    assert found == ({code} if code else set()), fact
    assert (r.features["code_security"].status == "unsupported") is bool(code)
    # Threat Detection on the same runtime is not restricted
    assert judge(ddtrace, python, os=os).features["threat_detection"].status == "supported"


def test_a_range_partly_restricted_is_unknown() -> None:
    r = judge(">=4,<5", "3.14", ("code_security",))
    assert r.features["code_security"].status == "unknown"


def test_a_layer_built_for_another_python_is_a_finding() -> None:
    doc = {
        "FunctionName": "f",
        "Runtime": "python3.12",
        "Layers": ["arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Python39:127"],
        "Environment": {"Variables": {"DD_APPSEC_ENABLED": "true"}},
    }
    out = parsers.parse_text(json.dumps(doc), "f.json", suffix=".json", path=None, explicit=True)
    (w,) = out.workloads
    for matrix in (CURRENT, SEED):
        r = evaluator.evaluate(w, matrix, as_of=DAY)
        (reason,) = [
            x for x in r.features["threat_detection"].reasons if x.code == "LAMBDA_LAYER_MISMATCH"
        ]
        assert reason.severity == "error" and "Datadog-Python312" in reason.message
    doc["Layers"] = ["arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Python312:127"]
    out = parsers.parse_text(json.dumps(doc), "f.json", suffix=".json", path=None, explicit=True)
    r = evaluator.evaluate(out.workloads[0], CURRENT, as_of=DAY)
    assert "LAMBDA_LAYER_MISMATCH" not in codes_of(r)


def _lambda(layer: int, env: dict[str, str]) -> model.WorkloadResult:
    doc = {
        "FunctionName": "f",
        "Runtime": "python3.11",
        "Layers": [f"arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Python311:{layer}"],
        "Environment": {"Variables": env},
    }
    out = parsers.parse_text(json.dumps(doc), "f.json", suffix=".json", path=None, explicit=True)
    return evaluator.evaluate(out.workloads[0], CURRENT, as_of=DAY)


def test_tracer_side_appsec_on_lambda_needs_layer_112() -> None:
    # section 5: DD_APPSEC_ENABLED works inside the tracer from datadog-lambda 7.112.0
    old = _lambda(105, {"DD_APPSEC_ENABLED": "true"})
    (reason,) = [x for x in old.features["threat_detection"].reasons if x.code == "SETTING_IGNORED"]
    assert "DD_SERVERLESS_APPSEC_ENABLED" in reason.message and reason.observed == "105"
    assert "SETTING_IGNORED" not in codes_of(_lambda(112, {"DD_APPSEC_ENABLED": "true"}))
    # the extension-side variable turns Threat Detection on with any layer
    side = _lambda(105, {"DD_SERVERLESS_APPSEC_ENABLED": "true"})
    assert "SETTING_IGNORED" not in codes_of(side) and "threat_detection" in side.features
