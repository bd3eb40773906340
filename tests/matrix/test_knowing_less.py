"""Knowing less never judges harsher (issue 13.1): with the ddtrace version unknown, or a
range the matrix covers only in part, a Python, OS or CPU outside the known rows leaves
the answer open (a warning), while the same facts with a known version may be certain."""

from __future__ import annotations

import datetime

import pytest

from ddcompat.shared import evaluator, model
from ddcompat.shared import matrix as matrix_mod

SEED = matrix_mod.load(edition="seed")
CURRENT = matrix_mod.load(edition="current")
SEVERITY_RANK = {None: 0, "info": 1, "warning": 2, "error": 3}


def judge(
    m: matrix_mod.Matrix,
    ddtrace: str | None,
    python: str | None,
    os: str = "linux",
    arch: tuple[str, ...] = ("amd64",),
    deployment_type: model.DeploymentType = "kubernetes",
) -> model.WorkloadResult:
    facts = model.Facts(
        deployment_type, ddtrace, python, model.Platform(os, arch), frozenset({"threat_detection"})
    )
    w = model.WorkloadContainer("f.yaml", "Deployment", "ns", "app", "app", facts)
    return evaluator.evaluate(w, m, as_of=datetime.date(2026, 12, 2))


KNOWN = {
    "seed": ["1.20.14", "1.9.0", "1.4.0"],
    "current": ["2.21.4", "3.17.2", "4.13.1", "1.20.14"],
}
LESS = ["unknown", "latest", ">=1.9", "v1", ">=1,<5"]
PYTHONS = ["2.7", "3.7", "3.9", "3.12", "3.13", "3.14", "3.15", "3.16"]
PLATFORMS = [("linux", ("amd64",)), ("linux", ("386",)), ("windows", ("amd64",)), ("darwin", ())]


@pytest.mark.parametrize("edition", ["seed", "current"])
@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: f"{p[0]}/{','.join(p[1])}")
def test_an_unknown_version_is_never_harsher_than_every_known_one(
    edition: str, python: str, platform: tuple[str, tuple[str, ...]]
) -> None:
    m = SEED if edition == "seed" else CURRENT
    os_, arch = platform
    unknown = judge(m, None, python, os_, arch)
    # the unknown version could be any of them: never worse than the mildest known one
    mildest = min(
        SEVERITY_RANK[judge(m, v, python, os_, arch).max_severity] for v in KNOWN[edition]
    )
    assert SEVERITY_RANK[unknown.max_severity] <= max(mildest, SEVERITY_RANK["warning"])
    assert unknown.max_severity != "error"
    assert unknown.features["threat_detection"].status != "unsupported"


@pytest.mark.parametrize("edition", ["seed", "current"])
@pytest.mark.parametrize("ddtrace", LESS)
@pytest.mark.parametrize("python", PYTHONS)
def test_a_version_range_never_gives_an_error_the_facts_leave_open(
    edition: str, ddtrace: str, python: str
) -> None:
    m = SEED if edition == "seed" else CURRENT
    r = judge(m, None if ddtrace == "unknown" else ddtrace, python)
    fr = r.features["threat_detection"]
    if fr.status != "unsupported":
        # an open answer: none of its reasons may be an error
        assert all(x.severity != "error" for x in fr.reasons), fr.reasons


def test_python_outside_the_seed_rows_with_ddtrace_unknown_is_a_warning() -> None:
    # the seed's rows stop at CPython 3.12; a 3.13 service with no known ddtrace
    r = judge(SEED, None, "3.13")
    fr = r.features["threat_detection"]
    assert fr.status == "unknown"
    assert {x.code: x.severity for x in fr.reasons} == {
        "DDTRACE_UNKNOWN": "warning",
        "PYTHON_UNSUPPORTED": "warning",
    }
    assert "no ddtrace line this matrix knows" in fr.reasons[1].message
    # the same Python with a known version is certain
    assert judge(SEED, "1.20.14", "3.13").max_severity == "error"


def test_a_range_inside_known_lines_stays_certain() -> None:
    # every 2.x release is in the current rows and none runs CPython 3.14
    r = judge(CURRENT, ">=2,<3", "3.14")
    assert r.features["threat_detection"].status == "unsupported"
    assert r.max_severity == "error"
