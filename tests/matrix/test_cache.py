"""Validated matrix files are remembered by content; anything else is validated again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy, policy_schema
from ddcompat.shared.matrix import schema

EXTRA = """\
runtimes:
  - os: linux
    arch: [amd64]
    python: ["3.12"]
    ddtrace: ">=2,<3"
    source: "our own tests"
"""


def _start_up(cache: Path, *matrix_files: Path) -> tuple[bool, str]:
    """A fresh process loading the matrix: (did it import pydantic, matrix name)."""
    code = (
        "import sys; from pathlib import Path; from ddcompat.shared import matrix as m; "
        f"x = m.load([Path(p) for p in {[str(f) for f in matrix_files]!r}]); "
        "print('pydantic' in sys.modules, len(x.runtimes))"
    )
    env = {**os.environ, "DDCOMPAT_CACHE_DIR": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0] == "True", out[1]


def test_second_start_needs_no_validation(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    extra = tmp_path / "m.yaml"
    extra.write_text(EXTRA)
    validated, rows = _start_up(cache, extra)
    assert validated and len(list(cache.iterdir())) == 1
    again, rows_again = _start_up(cache, extra)
    assert not again and rows_again == rows
    # a change is validated again, and gives its own entry
    extra.write_text(EXTRA.replace("3.12", "3.13"))
    assert _start_up(cache, extra)[0]
    assert len(list(cache.iterdir())) == 2


def test_a_broken_edit_is_never_taken_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DDCOMPAT_CACHE_DIR", str(tmp_path / "cache"))
    extra = tmp_path / "m.yaml"
    extra.write_text(EXTRA)
    assert len(matrix_mod.load([extra], edition="seed").runtimes) > 1
    extra.write_text(EXTRA.replace('python: ["3.12"]', "python: []"))
    with pytest.raises(matrix_mod.MatrixError, match=r"m.yaml: runtimes\[0\].*python"):
        matrix_mod.load([extra], edition="seed")
    assert len(list((tmp_path / "cache").iterdir())) == 1  # failures are not remembered


def test_a_damaged_or_unwritable_cache_only_costs_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("DDCOMPAT_CACHE_DIR", str(cache))
    expected = matrix_mod.load(edition="seed")
    (entry,) = cache.iterdir()
    entry.write_bytes(b"\x00garbage")
    assert matrix_mod.load(edition="seed") == expected
    entry.write_bytes(b"")
    assert matrix_mod.load(edition="seed") == expected
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("DDCOMPAT_CACHE_DIR", str(blocked / "cache"))
    assert matrix_mod.load(edition="seed") == expected
    monkeypatch.setenv("DDCOMPAT_CACHE_DIR", "")  # off
    assert matrix_mod.cache_dir() is None and matrix_mod.load(edition="seed") == expected


@pytest.mark.parametrize("section", matrix_mod.SECTIONS)
def test_schema_and_rows_have_the_same_fields(section: str) -> None:
    model = schema.ROW_MODELS[section]
    row = matrix_mod.ROW_TYPES[section]
    assert set(model.model_fields) == {f.name for f in msgspec.structs.fields(row)}


@pytest.mark.parametrize(
    ("model", "plain"),
    [
        (policy_schema.Policy, policy.Policy),
        (policy_schema.Requirement, policy.Requirement),
        (policy_schema.Exemption, policy.Exemption),
        (schema.Meta, matrix_mod.Meta),
    ],
)
def test_policy_schema_and_classes_have_the_same_fields(model: Any, plain: Any) -> None:
    fields = {f.name for f in msgspec.structs.fields(plain)}
    if plain is policy.Policy:
        # the file's `exemptions` mapping holds the rules and who may self-exempt
        assert set(policy_schema.Exemptions.model_fields) == {"rules", "annotations"}
        fields.discard("annotation_exemptions")
    assert set(model.model_fields) == fields
