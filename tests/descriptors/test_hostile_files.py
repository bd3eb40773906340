"""Files are hostile until bounded (issue 14.11): alias bombs refused, FIFOs and
oversized files never read, whatever front end walks them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ddcompat.shared.parsers import _common
from ddcompat.shared.sources import files

# 380 bytes that stand for 100,000 Pods
BOMB = """apiVersion: v1
kind: List
a: &a [{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: c,
  image: "python:3.11", env: [{name: DD_APPSEC_ENABLED, value: "true"}]}]}}]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
items: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
"""


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(BOMB)
    started = time.perf_counter()
    out = files.collect([tmp_path])
    assert time.perf_counter() - started < 2.0
    assert out.workloads == []
    assert [e.message for e in out.errors] == [
        "not valid YAML: YAML aliases expand to more than 200000 nodes (14 written): refused"
    ]


def test_anchors_as_compose_files_use_them_are_read(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "x-env: &env\n  DD_APPSEC_ENABLED: 'true'\nservices:\n"
        + "".join(f"  s{i}:\n    image: python:3.12\n    environment: *env\n" for i in range(50))
    )
    out = files.collect([tmp_path])
    assert len(out.workloads) == 50 and out.errors == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_never_opened_for_reading(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    os.mkfifo(tmp_path / "Dockerfile")
    out = files.collect([tmp_path])  # would block forever on open()
    assert {Path(f.path).name for f in out.ignored_files} == {"pipe.yaml"}
    assert [Path(e.source).name for e in out.errors] == ["Dockerfile"]


def test_a_file_over_the_cap_is_an_input_error(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2048)
    with pytest.raises(_common.NotAFile, match="too large"):
        _common.read_regular(big, 1024)
    assert _common.read_regular(big, 1024, head=True) == b" " * 1024
