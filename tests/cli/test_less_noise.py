"""The table says each thing once: a lifecycle finding once per workload, where its facts
came from once per workload, rows under the file they come from, every id unique."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_check import GOOD, run, write

# ddtrace 1.20.0 on Python 3.11 with AppSec: three features, one end-of-life line
THREE = GOOD.replace(
    'DD_APPSEC_ENABLED, value: "true"}',
    'DD_APPSEC_ENABLED, value: "true"}, {name: DD_APPSEC_SCA_ENABLED, value: "true"}, '
    '{name: DD_IAST_ENABLED, value: "true"}',
)


def test_a_finding_shared_by_every_feature_is_said_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "deploy.yaml", THREE)
    _, out, _ = run(
        capsys, "check", str(tmp_path), "--format", "table", "--matrix-edition", "current"
    )
    findings = out.split("Findings, errors first:", 1)[1]
    assert findings.count("DDTRACE_END_OF_LIFE") == 1
    assert "every feature: DDTRACE_END_OF_LIFE" in findings
    assert findings.count("ddtrace from a ddcompat.io annotation") == 1  # provenance once
    lines = findings.strip().splitlines()
    assert lines[1].strip().startswith("error:")  # errors first
    table = out.split("\n\n", 1)[0]
    assert f"{tmp_path / 'deploy.yaml'}:" in table  # rows under their file
    assert "findings: " in out and "input warnings" in out


def test_ids_are_unique_within_a_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "base/deploy.yaml", GOOD)
    write(tmp_path, "overlay/deploy.yaml", GOOD)
    _, out, _ = run(capsys, "check", str(tmp_path), "--format", "json")
    ids = [w["id"] for w in json.loads(out)["workloads"]]
    assert sorted(ids) == [
        "kubernetes/Deployment/prod/good/app",
        "kubernetes/Deployment/prod/good/app#2",
    ]
    _, out, _ = run(capsys, "check", str(tmp_path), "--format", "sarif")
    prints = [
        r["partialFingerprints"]["ddcompatWorkloadFeature/v1"]
        for r in json.loads(out)["runs"][0]["results"]
    ]
    assert len(prints) == len(set(prints))
