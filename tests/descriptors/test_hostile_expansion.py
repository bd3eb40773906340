"""The environment stays out and expansion stays small (issue 23.5): compose and ``.env``
interpolation read only the files, never the process environment; nested expansion in a
``.env``, a compose file or a Dockerfile is bounded in size, whatever the file says."""

from __future__ import annotations

from pathlib import Path

import pytest

from ddcompat.shared import cli
from ddcompat.shared.parsers import _envfile, _interpolate, dockerfile
from ddcompat.shared.sources import files
from tests.tools import peak_memory

SECRET = "s3cr3t-token-4f9a1c"

COMPOSE = """services:
  api:
    image: "python:3.11-${TAG}"
    labels:
      ddcompat.io/ddtrace-version: "2.21.4"
    environment:
      DD_APPSEC_ENABLED: "true"
      DD_VERSION: "${TAG}"
"""


@pytest.mark.parametrize("fmt", ["json", "sarif", "table", "html", "junit"])
def test_a_dotenv_reference_to_the_environment_is_never_resolved_from_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
) -> None:
    monkeypatch.setenv("CI_SECRET", SECRET)
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    (tmp_path / ".env").write_text("TAG=${CI_SECRET}\nOTHER=$CI_SECRET-x\n")
    cli.main(["check", str(tmp_path), "--format", fmt])
    out, err = capsys.readouterr()
    assert "api" in out
    assert SECRET not in out and SECRET not in err


def test_an_env_file_sees_its_own_earlier_values_and_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME_DIR", "/root")
    got = _envfile.parse(
        "# comment\n"
        "export A=1\n"
        "B=${A}-two # inline comment\n"
        "C='${A} literal'\n"
        'D="line\\nnext ${B}"\n'
        "E=${HOME_DIR:-unset}\n"
        'F="spans\nlines"\n'
        "G=after\n"
        "not a line\n"
    )
    assert got.values == {
        "A": "1",
        "B": "1-two",
        "C": "${A} literal",
        "D": "line\nnext 1-two",
        "E": "unset",
        "F": "spans\nlines",
        "G": "after",
    }
    assert got.problems == [(10, "not a KEY=value line: not a line")]


def _doubling_env(lines: int) -> str:
    return (
        "A0="
        + "x" * 64
        + "\n"
        + "".join(f"A{i}=${{A{i - 1}}}${{A{i - 1}}}\n" for i in range(1, lines))
    )


def test_a_small_dotenv_bomb_stays_small(tmp_path: Path) -> None:
    text = _doubling_env(60)  # ~1.3 KB; 64 * 2**59 characters if expanded in full
    assert len(text) < 1400
    got, peak = peak_memory(lambda: _envfile.parse(text))
    assert peak < 64 << 20
    assert max(len(v) for v in got.values.values()) <= _interpolate.MAX_TEXT
    assert any("too long once expanded" in m for _, m in got.problems)


def test_a_compose_file_with_a_bomb_env_is_read_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(COMPOSE.replace("${TAG}", "${A59}"))
    (tmp_path / ".env").write_text(_doubling_env(60))
    out, peak = peak_memory(lambda: files.collect([tmp_path]))
    assert peak < 128 << 20
    assert [w.name for w in out.workloads] == ["api"]
    assert any("too long once expanded" in w.message for w in out.warnings)


def test_a_small_dockerfile_bomb_stays_small() -> None:
    lines = ["FROM python:3.11", "ARG A0=" + "x" * 64]
    lines += [f"ARG A{i}=" + f"${{A{i - 1}}}" * 8 for i in range(1, 40)]
    lines.append("RUN pip install ddtrace==2.21.4 && echo $A39")
    text = "\n".join(lines)
    assert len(text) < 2400
    image, peak = peak_memory(lambda: dockerfile.read(text))
    assert peak < 64 << 20
    assert image.ddtrace == "==2.21.4" or image.ddtrace == "2.21.4"
    assert any("too long once expanded" in m for _, m in image.notes)


def test_many_env_lines_are_read_in_one_pass() -> None:
    # each line refers to the one before: linear work, one value per line
    n = 50_000
    text = "".join(f"V{i}=${{V{i - 1}:+x}}{i % 10}\n" if i else "V0=0\n" for i in range(n))
    got = _envfile.parse(text[: 4 << 20])
    assert len(got.values) == n
    assert got.problems == []
