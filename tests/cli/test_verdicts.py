"""Four verdicts: a workload whose facts are unknown is unverified, never compliant; the
counts add up in every format; --fail-on-unverified fails the run; the report says which
facts to supply and, for a gap, the fix."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from ddcompat.shared import cli, policy
from ddcompat.shared import matrix as matrix_mod
from tests.cli.test_check import EXAMPLES, GOOD, OLD, run, write

DESCRIPTORS = Path(__file__).resolve().parents[1] / "descriptors"
# ddtrace not known: Threat Detection cannot be decided
UNKNOWN = GOOD.replace("good", "unknown").replace(
    '    metadata: {annotations: {ddcompat.io/ddtrace-version: "1.20.0"}}\n', ""
)


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(capsys, "check", *args, "--format", "json")
    return code, json.loads(out)


def _consistent(data: dict[str, Any]) -> None:
    s = data["summary"]
    verdicts = [w["verdict"] for w in data["workloads"]]
    assert s["compliant"] + s["noncompliant"] + s["unverified"] + s["exempt"] == s["workloads"]
    for v in ("compliant", "noncompliant", "unverified", "exempt"):
        assert s[v] == verdicts.count(v), v
    for w in data["workloads"]:
        # the features it turns on (not those judged because the tracer turns them on)
        own = [f for f in w["features"].values() if not f["by_default"]]
        statuses = {f["status"] for f in own}
        if w["verdict"] == "compliant":
            # every feature it turns on is supported, or its gap is below --fail-on
            for f in own:
                assert f["status"] in ("supported", "preview") or all(
                    x["severity"] != "error" for x in f["reasons"]
                ), w["id"]
            assert "unknown" not in statuses, w["id"]
        if "unknown" in statuses and w["exempt"] is None:
            assert w["verdict"] in ("unverified", "noncompliant"), w["id"]
        if w["verdict"] == "unverified":
            assert w["verify"], w["id"]
        if w["verdict"] != "noncompliant":
            assert w["fix"] == [], w["id"]


def test_an_unknown_ddtrace_is_unverified_and_says_what_to_supply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "unknown.yaml", UNKNOWN)
    code, data = _check(capsys, str(tmp_path))
    assert code == 0  # unknown never fails by default
    [w] = data["workloads"]
    assert w["verdict"] == "unverified"
    assert data["summary"]["compliant"] == 0 and data["summary"]["unverified"] == 1
    assert [v["fact"] for v in w["verify"]] == ["ddtrace"]
    assert "--inspect-images" in w["verify"][0]["how"]
    code, _ = _check(capsys, str(tmp_path), "--fail-on-unverified")
    assert code == 1
    code, out, _ = run(capsys, "check", str(tmp_path), "--format", "table")
    assert "0 compliant, 0 noncompliant, 1 unverified, 0 exempt" in out
    assert "Unverified: to decide them, supply" in out and "ddtrace:" in out


def test_junit_skips_unverified_unless_the_run_fails_on_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "unknown.yaml", UNKNOWN)
    write(tmp_path, "old.yaml", OLD)
    for flag, kind in (((), "skipped"), (("--fail-on-unverified",), "failure")):
        _, out, _ = run(capsys, "check", str(tmp_path), "--format", "junit", *flag)
        cases = {
            c.get("classname"): c
            for c in ET.fromstring(out).iter("testcase")
            if c.get("name") == "threat_detection"
        }
        unknown = cases["kubernetes/Deployment/prod/unknown/app"]
        assert unknown.find(kind) is not None
        assert "unverified" in (unknown.find(kind).get("message") or "")  # type: ignore[union-attr]
        assert cases["kubernetes/Deployment/prod/old/app"].find("failure") is not None


def test_a_gap_comes_with_its_fix_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "old.yaml", OLD)
    code, data = _check(capsys, str(tmp_path), "--matrix-edition", "current")
    assert code == 1
    [w] = data["workloads"]
    assert w["fix"] == [
        {
            "facet": "ddtrace",
            "observed": "1.8.0",
            "minimum": "4.0.0",  # 1.16.0 closes it too, on a line at end of life
            "features": ["threat_detection"],
        }
    ]
    _, out, _ = run(
        capsys, "check", str(tmp_path), "--matrix-edition", "current", "--format", "table"
    )
    assert "ddtrace 1.8.0 -> 4.0.0 (threat_detection)" in out
    _, out, _ = run(
        capsys, "check", str(tmp_path), "--matrix-edition", "current", "--format", "sarif"
    )
    messages = [r["message"]["text"] for r in json.loads(out)["runs"][0]["results"]]
    assert any("Fix: ddtrace 1.8.0 -> 4.0.0" in m for m in messages)


@pytest.mark.parametrize("edition", ["seed", "current"])
def test_the_example_fleet_counts_add_up(edition: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, data = _check(
        capsys,
        str(EXAMPLES),
        "--policy",
        str(EXAMPLES / "policy.yaml"),
        "--matrix-edition",
        edition,
    )
    _consistent(data)
    assert data["summary"]["noncompliant"] > 0


def test_the_real_repository_fixtures_count_up_and_unknown_is_never_compliant() -> None:
    cases = sorted(p.parent for p in DESCRIPTORS.glob("*/*/expected.yaml"))
    assert len(cases) > 20
    for edition in ("seed", "current"):
        m = matrix_mod.load(edition=edition)
        for case in cases:
            run_ = cli.run_check(
                [str(case)], m, policy.DEFAULT, excludes=["expected.yaml", "ORIGIN.md"]
            )
            from ddcompat.shared import report

            _consistent(report.to_json(run_))
