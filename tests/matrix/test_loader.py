"""The matrix as data: validation errors name file, row and field; user matrices extend it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ddcompat.shared import evaluator
from ddcompat.shared import matrix as matrix_mod
from tests.conftest import make_workload

EXTENSION = """
runtimes:
  - os: linux
    arch: [amd64, arm64]
    python: ["3.7-3.12"]
    ddtrace: ">=2,<3"
    source: "internal: platform team's compatibility notes, 2026-10"
"""


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_builtin_matrix_loads_with_sources() -> None:
    m = matrix_mod.load(edition="seed")
    assert m.name == "datadog-appsec-python"
    for section in matrix_mod.SECTIONS:
        for row in getattr(m, section):
            assert row.source.strip(), (section, row)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "runtimes:\n  - {os: linux, arch: [amd64], python: ['3.11'], ddtrace: '<2'}\n",
            "runtimes[0] (os='linux').source: Field required",
        ),
        (
            "features:\n  - {id: rocket_science, title: x, min_ddtrace: '1.0', source: s}\n",
            "features[0] (id='rocket_science').id",
        ),
        (
            "runtimes:\n  - {os: linux, arch: [amd64], python: ['3.12-3.5'],"
            " ddtrace: '<2', source: s}\n",
            "runtimes[0] (os='linux').python: Value error, bad Python range '3.12-3.5'",
        ),
        (
            "release_branches:\n  - {ddtrace: 'not a range', level: maintenance, source: s}\n",
            "release_branches[0] (ddtrace='not a range').ddtrace",
        ),
        (
            "frameworks:\n  - {framework: bottle, min_version: '0.12', features: {},"
            " source: s, extra: 1}\n",
            "frameworks[0] (framework='bottle').extra: Extra inputs are not permitted",
        ),
        (
            "features:\n  - {id: sca, title: x, source: s}\n",
            "give exactly one of min_ddtrace or preview",
        ),
        ("runtimes: [\n", "not valid YAML"),
        ("- just a list\n", "a matrix file is a mapping of sections"),
        ("rutnimes: []\n", "rutnimes: Extra inputs are not permitted"),
    ],
)
def test_broken_matrix_names_file_row_field(tmp_path: Path, text: str, expected: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(matrix_mod.MatrixError) as exc:
        matrix_mod.load([p], edition="seed")
    assert str(p) in str(exc.value)
    assert expected in str(exc.value)


def test_duplicate_feature_is_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "features:\n  - {id: sca, title: x, min_ddtrace: '1.0', source: s}\n")
    with pytest.raises(matrix_mod.MatrixError, match="sca"):
        matrix_mod.load([p], edition="seed")


def test_unreadable_matrix_file(tmp_path: Path) -> None:
    with pytest.raises(matrix_mod.MatrixError, match="cannot read"):
        matrix_mod.load([tmp_path / "missing.yaml"], edition="seed")


def test_user_matrix_covers_ddtrace_2(tmp_path: Path) -> None:
    w = make_workload(ddtrace="2.6.1", python="3.12", features=("api_security",))
    seed = matrix_mod.load(edition="seed")
    assert evaluator.evaluate(w, seed).features["api_security"].status == "unknown"
    extended = matrix_mod.load([write(tmp_path, EXTENSION)], edition="seed")
    assert extended.name == seed.name  # the extension has no meta of its own
    assert evaluator.evaluate(w, extended).features["api_security"].status == "supported"
    too_new = make_workload(ddtrace="2.6.1", python="3.13", features=("api_security",))
    r = evaluator.evaluate(too_new, extended)
    assert [x.code for x in r.features["api_security"].reasons] == ["PYTHON_UNSUPPORTED"]


def test_user_matrix_can_rename(tmp_path: Path) -> None:
    p = write(tmp_path, EXTENSION + "meta: {name: acme, version: '7'}\n")
    m = matrix_mod.load([p], edition="seed")
    assert (m.name, m.version) == ("acme", "7")
