"""`matrix query` agrees with answers worked out by hand from the matrix rows (an oracle
that reads the rows directly, not through the evaluator), for every feature on Python
3.9-3.14; and a fix, applied, closes the gaps it names while the release before it does
not."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys

import pytest
from packaging.version import Version

from ddcompat.shared import evaluator, fixes, model, versions
from ddcompat.shared import matrix as matrix_mod

CURRENT = matrix_mod.load(edition="current")
DAY = datetime.date(2026, 12, 8)
FINDER = fixes.Finder(evaluator.Evaluator(CURRENT, as_of=DAY))
PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
FEATURES = tuple(f.id for f in CURRENT.features)


def _covers(rng: str, v: Version) -> bool:
    return versions.coverage(versions.parse_range(str(v)), versions.parse_range(rng)) is (
        versions.Coverage.ALL
    )


def _by_hand(feature: str, python: str, os: str, arch: str) -> tuple[str | None, str | None]:
    """(smallest release, smallest not at end of life) from the rows themselves."""
    row = next(f for f in CURRENT.features if f.id == feature)
    py = versions.python_minor(python)
    day = DAY.isoformat()

    def ok(v: Version) -> bool:
        if row.min_ddtrace is not None and v < Version(row.min_ddtrace):
            return False
        runtime = any(
            r.os == os
            and arch in r.arch
            and py in versions.expand_python_versions(list(r.python))
            and _covers(r.ddtrace, v)
            for r in CURRENT.runtimes
        )
        restricted = any(
            r.feature == feature
            and _covers(r.ddtrace, v)
            and (py in versions.expand_python_versions(list(r.python)) or os in r.os)
            for r in CURRENT.restrictions
        )
        return runtime and not restricted

    def eol(v: Version) -> bool:
        return any(
            rb.level == "end_of_life" and rb.applies_on(day) and _covers(rb.ddtrace, v)
            for rb in CURRENT.release_branches
        )

    good = [v for v in fixes.releases() if ok(v)]
    maintained = [v for v in good if not eol(v)]
    return (
        str(good[0]) if good else None,
        str(maintained[0]) if maintained else None,
    )


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("feature", FEATURES)
@pytest.mark.parametrize(("os", "arch"), [("linux", "amd64"), ("windows", "arm64")])
def test_query_agrees_with_the_rows(feature: str, python: str, os: str, arch: str) -> None:
    q = fixes.query(FINDER, feature, python, os, arch)
    assert (q.ddtrace.minimum, q.ddtrace.maintained) == _by_hand(feature, python, os, arch)


def test_known_answers() -> None:
    q = fixes.query(FINDER, "threat_detection", "3.13")
    assert (q.ddtrace.minimum, q.ddtrace.maintained) == ("2.19.0", "4.0.0")
    q = fixes.query(FINDER, "code_security", "3.14")
    assert q.ddtrace.minimum == "4.0.1"  # IAST not on 3.14 before 4.0.1
    assert fixes.query(FINDER, "code_security", "3.12", "windows").ddtrace.minimum is None
    lam = fixes.query(FINDER, "api_security", "3.12", deployment="lambda")
    assert lam.layer is not None and lam.layer.minimum is not None
    assert int(lam.layer.minimum) >= 114  # layers 89-113 turn API Security off
    assert {s for s, _, _ in lam.rows} >= {"features", "runtimes", "lambda_layers"}


def test_the_command_answers_in_json() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ddcompat.shared.cli",
            "matrix",
            "query",
            "--feature",
            "threat_detection",
            "--python",
            "3.13",
            "--format",
            "json",
            "--matrix-edition",
            "current",
            "--as-of",
            "2026-12-08",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    assert data["ddtrace_minimum"] == "2.19.0"
    assert data["ddtrace_minimum_maintained"] == "4.0.0"
    assert any(r["section"] == "runtimes" and "pypi" in r["source"] for r in data["rows"])


def _workload(ddtrace: str, python: str, features: set[str]) -> model.WorkloadResult:
    facts = model.Facts(
        "kubernetes",
        ddtrace,
        python,
        model.Platform("linux", ("amd64",)),
        frozenset(features),
        sources=model.FactSources("annotation", "image_tag", "default"),
    )
    w = model.WorkloadContainer("f", "Deployment", "ns", "a", "a", facts)
    return evaluator.evaluate(w, CURRENT, as_of=DAY)


@pytest.mark.parametrize(
    ("ddtrace", "python", "features", "minimum"),
    [
        ("1.20.14", "3.12", {"threat_detection"}, "4.0.0"),
        ("2.10.0", "3.11", {"threat_detection", "exploit_prevention"}, "4.0.0"),
        ("4.1.0", "3.12", {"api_security"}, "4.6.0"),
        ("3.14.0", "3.14", {"code_security"}, "4.0.1"),
    ],
)
def test_a_fix_closes_the_gaps_and_the_release_before_it_does_not(
    ddtrace: str, python: str, features: set[str], minimum: str
) -> None:
    r = _workload(ddtrace, python, features)
    assert r.verdict() == "noncompliant"
    [fix] = FINDER.fixes(r)
    assert (fix.facet, fix.observed, fix.minimum) == ("ddtrace", ddtrace, minimum)
    assert _workload(minimum, python, features).verdict() == "compliant"
    # the release before it leaves a gap, or is on a line at end of life (a maintained
    # line is chosen where one closes the gaps)
    before = max(v for v in fixes.releases() if v < Version(minimum))
    if before >= Version(ddtrace):
        earlier = _workload(str(before), python, features)
        assert earlier.verdict() != "compliant" or any(
            x.code == "DDTRACE_END_OF_LIFE" for fr in earlier.features.values() for x in fr.reasons
        )


def test_a_python_no_maintained_tracer_runs_gets_the_smallest_tracer_and_no_python_fix() -> None:
    r = _workload("1.16.1", "3.8", {"user_activity_tracking"})
    [fix] = FINDER.fixes(r)
    assert (fix.facet, fix.minimum) == ("ddtrace", "1.17.0")


def test_a_python_no_newer_tracer_runs_gets_a_python_fix_never_a_downgrade() -> None:
    r = _workload("4.16.0", "3.15", {"threat_detection"})
    assert r.verdict() == "noncompliant"
    assert FINDER.fixes(r) == ()  # no Python above 3.14 is known: nothing to suggest
    r = _workload("4.16.0", "3.8", {"threat_detection"})  # 4.x has no 3.8 wheel
    assert [(f.facet, f.observed, f.minimum) for f in FINDER.fixes(r)] == [("python", "3.8", "3.9")]
