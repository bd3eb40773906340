"""Descriptor parsers, one fixture directory per case: ``<format>/<case>/`` holds the
input files and ``expected.yaml`` (workload ids with their facts and feature statuses,
the input errors, the skipped-container count). Every directory is discovered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ddcompat.shared import cli, policy, report
from ddcompat.shared import matrix as matrix_mod

HERE = Path(__file__).parent
CASES = sorted(p.parent for p in HERE.glob("*/*/expected.yaml"))


def test_every_format_has_fixtures() -> None:
    formats = {c.parent.name for c in CASES}
    assert formats >= {"kubernetes", "compose", "dockerfile", "ecs", "lambda", "cloudformation"}


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_descriptor_case(case: Path, seed_matrix: matrix_mod.Matrix) -> None:
    expected: dict[str, Any] = yaml.safe_load((case / "expected.yaml").read_text())
    edition = expected.get("edition", "seed")
    m = seed_matrix if edition == "seed" else matrix_mod.load(edition=edition)
    run = cli.run_check([str(case)], m, policy.DEFAULT, excludes=["expected.yaml", "ORIGIN.md"])
    data = report.to_json(run)
    got = {w["id"]: w for w in data["workloads"]}
    want: dict[str, Any] = expected.get("workloads") or {}
    assert sorted(got) == sorted(want), data["errors"]
    for wid, spec in want.items():
        w = got[wid]
        for key in ("ddtrace_version", "python_version", "platform", "exempt", "facts_source"):
            if key in spec:
                assert w[key] == spec[key], (wid, key)
        statuses = {f: v["status"] for f, v in w["features"].items()}
        assert statuses == spec["features"], wid
        for feature, codes in (spec.get("codes") or {}).items():
            assert [r["code"] for r in w["features"][feature]["reasons"]] == codes, (wid, feature)
        for feature, sevs in (spec.get("severities") or {}).items():
            got_sevs = [r["severity"] for r in w["features"][feature]["reasons"]]
            assert got_sevs == sevs, (wid, feature)
    errors = [f"{e['source']}: {e['field']}: {e['message']}" for e in data["errors"]]
    want_errors = expected.get("errors") or []
    assert len(errors) == len(want_errors), errors
    for spec in want_errors:
        assert any(spec["file"] in e and spec["contains"] in e for e in errors), (spec, errors)
    if "not_python" in expected:
        got_np = {n["workload"].split("/")[-1]: n["language"] for n in data["not_python"]}
        assert got_np == expected["not_python"]
    if "warnings" in expected:
        warnings = [f"{e['source']}: {e['field']}: {e['message']}" for e in data["warnings"]]
        assert len(warnings) == len(expected["warnings"]), warnings
        for spec in expected["warnings"]:
            assert any(spec["file"] in e and spec["contains"] in e for e in warnings), (
                spec,
                warnings,
            )
    if "kinds_not_understood" in expected:
        got_k = sorted(f"{k['kind']}/{k['name']}" for k in data["kinds_not_understood"])
        assert got_k == sorted(expected["kinds_not_understood"])
    if "skipped_containers" in expected:
        assert data["summary"]["skipped_containers"] == expected["skipped_containers"]


REAL = sorted(p.parent for p in HERE.glob("*/*/ORIGIN.md"))


def test_a_walk_over_real_repository_files_ends_without_input_errors() -> None:
    """Issue 13: the fixtures made from real public files (each with its ORIGIN.md), walked
    together as one repository: exit 0 or 1, never 2."""
    assert len(REAL) >= 12
    code = cli.main(["check", "--format", "json", "-o", "/dev/null", *map(str, REAL)])
    assert code in (0, 1)
