"""Each item of ../shared/facts/UPDATE-2026-12.md, judged on a real-shaped descriptor
through the parsers (as `ddcompat check` reads it) against the current edition, and the
seed edition left as it was."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ddcompat.shared import evaluator, model, parsers
from ddcompat.shared import matrix as matrix_mod

CURRENT = matrix_mod.load(edition="current")
SEED = matrix_mod.load(edition="seed")
DAY = datetime.date(2026, 12, 8)


def _judge(
    text: str,
    name: str = "deploy.yaml",
    *,
    matrix: matrix_mod.Matrix = CURRENT,
    as_of: datetime.date = DAY,
) -> list[model.WorkloadResult]:
    suffix = Path(name).suffix
    out = parsers.parse_text(textwrap.dedent(text), name, suffix=suffix, path=None, explicit=True)
    assert not out.errors, out.errors
    return [evaluator.evaluate(w, matrix, as_of=as_of) for w in out.workloads]


def _codes(r: model.WorkloadResult, feature: str = "threat_detection") -> dict[str, str]:
    return {x.code: x.severity for x in r.features[feature].reasons}


def _deployment(
    image: str,
    annotations: dict[str, str],
    node_selector: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> str:
    doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}, "annotations": annotations},
                "spec": {
                    "nodeSelector": node_selector or {},
                    "containers": [
                        {
                            "name": "api",
                            "image": image,
                            "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
                        }
                    ],
                },
            },
        },
    }
    return json.dumps(doc)


APPSEC = {"DD_APPSEC_ENABLED": "true"}


@pytest.mark.parametrize(
    ("ddtrace", "code"),
    [("2.18.2", "PYTHON_UNSUPPORTED"), ("2.19.0", None)],
)
def test_python_313_starts_at_2_19_0(ddtrace: str, code: str | None) -> None:
    (r,) = _judge(
        _deployment("python:3.13-slim", {"ddcompat.io/ddtrace-version": ddtrace}, env=APPSEC)
    )
    assert (code in _codes(r)) if code else "PYTHON_UNSUPPORTED" not in _codes(r)


@pytest.mark.parametrize(("ddtrace", "ok"), [("3.14.1", False), ("3.15.0", True)])
def test_windows_arm64_starts_at_3_15_0(ddtrace: str, ok: bool) -> None:
    (r,) = _judge(
        _deployment(
            "mcr.microsoft.com/windows/servercore:ltsc2022",
            {"ddcompat.io/ddtrace-version": ddtrace, "ddcompat.io/python-version": "3.12"},
            {"kubernetes.io/os": "windows", "kubernetes.io/arch": "arm64"},
            env={"DD_APPSEC_SCA_ENABLED": "true"},
        )
    )
    assert ("PLATFORM_UNSUPPORTED" not in _codes(r, "sca")) is ok


def test_newest_release_and_latest_are_4_16_0_and_newer_is_judged_by_its_line() -> None:
    (latest,) = _judge(
        _deployment(
            "python:3.14",
            {"admission.datadoghq.com/python-lib.version": "latest"},
            env=APPSEC,
        )
    )
    assert latest.features["threat_detection"].status == "supported"
    (newer,) = _judge(
        _deployment("python:3.14", {"ddcompat.io/ddtrace-version": "4.17.0"}, env=APPSEC)
    )
    found = {x.code: x for x in newer.features["threat_detection"].reasons}
    assert newer.features["threat_detection"].status == "supported"
    assert "read 2026-12-08" in found["FACTS_OLDER_THAN_RELEASE"].message
    assert found["FACTS_OLDER_THAN_RELEASE"].severity == "info"
    (major,) = _judge(
        _deployment("python:3.14", {"ddcompat.io/ddtrace-version": "5.0.0"}, env=APPSEC)
    )
    assert "MATRIX_NOT_COVERED" in _codes(major)
    assert major.features["threat_detection"].status == "unknown"


def test_3_19_9_after_the_3x_end_of_life_is_known_and_end_of_life() -> None:
    (r,) = _judge(_deployment("python:3.9", {"ddcompat.io/ddtrace-version": "3.19.9"}, env=APPSEC))
    assert r.features["threat_detection"].status == "supported"
    assert set(_codes(r)) == {"DDTRACE_END_OF_LIFE"}


@pytest.mark.parametrize(
    ("version", "python", "code"),
    [
        ("v4.2.3", "3.14", "INJECTION_PYTHON_UNSUPPORTED"),
        ("v4.3.0", "3.14", None),
        ("v4.1.0", "3.8", "INJECTION_PYTHON_UNSUPPORTED"),
        ("v4.0.0", "3.8", None),
        ("v3.0.0", "3.13", "INJECTION_PYTHON_UNSUPPORTED"),
        ("v2.6.1", "3.12", "INJECTION_PYTHON_UNSUPPORTED"),
    ],
)
def test_library_injection_outside_its_python_window_is_unsupported(
    version: str, python: str, code: str | None
) -> None:
    (r,) = _judge(
        _deployment(
            f"python:{python}-slim",
            {"admission.datadoghq.com/python-lib.version": version},
            env=APPSEC,
        )
    )
    found = _codes(r)
    if code is None:
        assert "INJECTION_PYTHON_UNSUPPORTED" not in found
        return
    assert found[code] == "error"
    assert r.features["threat_detection"].status == "unsupported"
    reason = next(x for x in r.features["threat_detection"].reasons if x.code == code)
    assert "runs without ddtrace" in reason.message


def test_an_injected_major_pin_partly_outside_the_window_is_unknown_not_an_error() -> None:
    (r,) = _judge(
        _deployment("python:3.14", {"admission.datadoghq.com/python-lib.version": "v4"}, env=APPSEC)
    )
    assert _codes(r)["INJECTION_PYTHON_UNSUPPORTED"] == "warning"
    assert r.features["threat_detection"].status == "unknown"


def test_free_threaded_314t_has_no_wheel() -> None:
    (r,) = _judge(
        _deployment(
            "ghcr.io/acme/api:1.0",
            {"ddcompat.io/ddtrace-version": "4.16.0", "ddcompat.io/python-version": "3.14t"},
            env=APPSEC,
        )
    )
    reason = next(
        x for x in r.features["threat_detection"].reasons if x.code == "PYTHON_UNSUPPORTED"
    )
    assert reason.severity == "error"
    assert "free-threaded" in reason.message


@pytest.mark.parametrize(
    ("frameworks", "ok"),
    [
        ("fastapi==0.110.0", True),
        ("fastapi==0.85.1", False),
        ("django==2.2.28", True),
        ("django==2.1", False),
        ("flask==1.1.4", True),
        ("flask==1.0", False),
    ],
)
def test_current_framework_rows(frameworks: str, ok: bool) -> None:
    (r,) = _judge(
        _deployment(
            "python:3.12",
            {"ddcompat.io/ddtrace-version": "4.16.0", "ddcompat.io/frameworks": frameworks},
            env=APPSEC,
        )
    )
    found = _codes(r)
    assert ("FRAMEWORK_UNSUPPORTED" not in found) is ok, found
    assert "FLASK_QUERY_STRING" not in found  # gone from the current pages


def test_the_4x_end_of_life_forecast() -> None:
    text = _deployment("python:3.12", {"ddcompat.io/ddtrace-version": "4.16.0"}, env=APPSEC)
    (now,) = _judge(text)
    forecast = next(
        x for x in now.features["threat_detection"].reasons if x.code == "LIFECYCLE_FORECAST"
    )
    assert forecast.severity == "info" and "2027-05-31" in forecast.message
    assert "05-2027" in forecast.message
    (later,) = _judge(text, as_of=datetime.date(2027, 6, 1))
    eol = next(
        x for x in later.features["threat_detection"].reasons if x.code == "DDTRACE_END_OF_LIFE"
    )
    assert "forecast" in eol.message
    assert later.features["threat_detection"].status == "supported"  # a warning, not a gap


def _sam(layer: int, runtime: str, env: dict[str, str], arm: bool = False) -> str:
    suffix = "-ARM" if arm else ""
    pyname = runtime.replace("python", "").replace(".", "")
    return json.dumps(
        {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Transform": "AWS::Serverless-2016-10-31",
            "Resources": {
                "Checkout": {
                    "Type": "AWS::Serverless::Function",
                    "Properties": {
                        "Handler": "datadog_lambda.handler.handler",
                        "Runtime": runtime,
                        "Layers": [
                            f"arn:aws:lambda:us-east-1:464622532012:layer:"
                            f"Datadog-Python{pyname}{suffix}:{layer}",
                            "arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Extension:88",
                        ],
                        "Environment": {"Variables": {"DD_LAMBDA_HANDLER": "app.handler", **env}},
                    },
                }
            },
        }
    )


def test_layers_89_to_113_turn_api_security_off() -> None:
    env = {"DD_APPSEC_ENABLED": "true", "DD_API_SECURITY_ENABLED": "true"}
    (r,) = _judge(_sam(113, "python3.12", env), "template.json")
    off = next(x for x in r.features["api_security"].reasons if x.code == "LAMBDA_FEATURE_OFF")
    assert off.severity == "error" and "layer 114" in off.message
    (ok,) = _judge(_sam(114, "python3.12", env), "template.json")
    assert "LAMBDA_FEATURE_OFF" not in _codes(ok, "api_security")
    # not asked for: it is not judged as on by default where the layer turns it off
    (implied,) = _judge(_sam(100, "python3.12", {"DD_APPSEC_ENABLED": "true"}), "template.json")
    assert "api_security" not in implied.features


def test_in_tracer_appsec_on_layers_112_113_is_early() -> None:
    (r,) = _judge(_sam(112, "python3.12", {"DD_APPSEC_ENABLED": "true"}), "template.json")
    assert _codes(r)["LAMBDA_LAYER_EARLY"] == "warning"
    (ok,) = _judge(_sam(114, "python3.12", {"DD_APPSEC_ENABLED": "true"}), "template.json")
    assert "LAMBDA_LAYER_EARLY" not in _codes(ok)


@pytest.mark.parametrize(
    ("layer", "runtime", "carried"),
    [(128, "python3.12", "4.15.2"), (128, "python3.9", "3.19.8"), (130, "python3.13", "4.16.0")],
)
def test_layers_128_to_130_carry_the_tracer_their_release_notes_name(
    layer: int, runtime: str, carried: str
) -> None:
    (r,) = _judge(_sam(layer, runtime, {"DD_APPSEC_ENABLED": "true"}), "template.json")
    assert r.workload.facts.ddtrace == carried
    assert "DDTRACE_UNKNOWN" not in _codes(r)


def test_a_layer_newer_than_the_facts_is_judged_with_an_info_finding() -> None:
    (r,) = _judge(_sam(131, "python3.12", {"DD_APPSEC_ENABLED": "true"}), "template.json")
    assert r.workload.facts.ddtrace == ">=4.1.1,<5"
    reason = next(
        x for x in r.features["threat_detection"].reasons if x.code == "FACTS_OLDER_THAN_RELEASE"
    )
    assert "layer 131" in reason.message and "130" in reason.message


@pytest.mark.parametrize(
    ("runtime", "words"),
    [
        ("python3.10", "on 2026-10-31"),
        ("python3.9", "on 2025-12-15"),
    ],
)
def test_aws_lambda_runtime_deprecation(runtime: str, words: str) -> None:
    (r,) = _judge(_sam(130, runtime, {"DD_APPSEC_ENABLED": "true"}), "template.json")
    reason = next(
        x for x in r.features["threat_detection"].reasons if x.code == "LAMBDA_RUNTIME_DEPRECATED"
    )
    assert reason.severity == "warning" and words in reason.message
    (fine,) = _judge(_sam(130, "python3.13", {"DD_APPSEC_ENABLED": "true"}), "template.json")
    assert "LAMBDA_RUNTIME_DEPRECATED" not in _codes(fine)


def test_the_seed_edition_is_unchanged_by_the_update() -> None:
    (r,) = _judge(
        _deployment("python:3.12", {"ddcompat.io/ddtrace-version": "4.16.0"}, env=APPSEC),
        matrix=SEED,
    )
    assert "MATRIX_NOT_COVERED" in _codes(r)
    assert SEED.known is None and SEED.latest is None
    assert not SEED.injection and not SEED.lambda_layers and not SEED.lambda_runtimes


def test_every_report_names_the_day_of_its_facts(tmp_path: Path) -> None:
    (tmp_path / "deploy.yaml").write_text(
        _deployment("python:3.12", {"ddcompat.io/ddtrace-version": "4.16.0"}, env=APPSEC)
    )
    cmd = [sys.executable, "-m", "ddcompat.shared.cli", "check", str(tmp_path)]
    cmd += ["--matrix-edition", "current"]
    out = {
        fmt: subprocess.run(
            [*cmd, "--format", fmt], capture_output=True, text=True, check=False
        ).stdout
        for fmt in ("json", "table", "sarif", "junit", "html")
    }
    assert json.loads(out["json"])["matrix"]["facts_read"] == "2026-12-08", out["json"][:300]
    assert "facts read 2026-12-08" in out["table"]
    assert json.loads(out["sarif"])["runs"][0]["properties"]["factsRead"] == "2026-12-08"
    assert 'name="facts_read" value="2026-12-08"' in out["junit"]
    assert "facts read 2026-12-08" in out["html"]


def test_api_security_minimum_says_the_vendor_pages_disagree() -> None:
    env = {"DD_APPSEC_ENABLED": "true", "DD_API_SECURITY_ENABLED": "true"}
    (r,) = _judge(_deployment("python:3.12", {"ddcompat.io/ddtrace-version": "4.5.0"}, env=env))
    reason = next(x for x in r.features["api_security"].reasons if x.code == "DDTRACE_TOO_OLD")
    assert "4.6.0 or newer" in reason.message and "2.6.0" in reason.message
