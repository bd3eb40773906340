"""The first minutes of a new user: files that are no descriptor are said to be so, a
run that found nothing says it (and can fail), a typo'd option is reported under its own
command with the option meant, and the CLI runs with the core dependencies alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.cli.test_check import EXAMPLES, run, write


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("app.py", "from flask import Flask\nimport os\n", "a Python source file"),
        ("README.md", "# Shop\n\nDeploy with `kubectl apply`.\n", "a Markdown document"),
        ("notes.txt", "FROM python:3.12\n", "a text file"),
    ],
)
def test_a_file_that_is_no_descriptor_is_said_to_be_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, words: str
) -> None:
    path = write(tmp_path, name, text)
    code, _, err = run(capsys, "check", str(path), "--format", "json")
    assert code == 2
    assert f"{path}: not a deployment descriptor: {words}" in err
    assert "Dockerfile" not in err.split(words)[0] and "not valid YAML" not in err


def test_python_from_import_is_not_taken_for_a_dockerfile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "manage", "from django.core import management\nmanagement.run()\n")
    code, _, err = run(capsys, "check", str(path), "--format", "json")
    assert code == 2 and "not a recognised deployment descriptor" in err
    real = write(tmp_path, "build/Containerfile", "FROM python:3.12 AS base\nRUN true\n")
    code, _, err = run(capsys, "check", str(real), "--format", "json")
    assert "not a recognised" not in err


def test_a_run_that_found_nothing_says_so_and_can_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "src/app.py", "print('hello')\n")
    code, _, err = run(capsys, "check", str(tmp_path), "--format", "json")
    assert code == 0 and "no workload found: nothing was checked" in err
    code, _, err = run(capsys, "check", str(tmp_path), "--format", "json", "--fail-if-empty")
    assert code == 1 and "no workload found" in err


def test_a_typo_is_reported_under_its_own_command_with_the_option_meant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        run(capsys, "check", str(EXAMPLES), "--fail-onn", "warning")
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "usage: ddcompat check" in err
    assert "--fail-onn (did you mean --fail-on?)" in err
    with pytest.raises(SystemExit):
        run(capsys, "matrix", "query", "--feature", "sca", "--pyton", "3.12")
    err = capsys.readouterr().err
    assert "usage: ddcompat matrix query" in err and "did you mean --python?" in err


BLOCK_SERVER_LIBRARIES = textwrap.dedent(
    """
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"aiohttp", "kubernetes", "prometheus_client", "boto3"}:
                raise ImportError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, Block())
    from ddcompat.shared import cli
    sys.exit(cli.main(sys.argv[1:]))
    """
)


def test_the_cli_runs_with_the_core_dependencies_alone() -> None:
    out = subprocess.run(
        [sys.executable, "-c", BLOCK_SERVER_LIBRARIES, "check", str(EXAMPLES), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1, out.stderr  # the example fleet's gaps, judged
    assert '"noncompliant":' in out.stdout
    out = subprocess.run(
        [sys.executable, "-c", BLOCK_SERVER_LIBRARIES, "webhook", "serve"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert "pip install 'ddcompat[server]'" in out.stderr and "Traceback" not in out.stderr


def test_the_package_requires_no_server_library() -> None:
    import importlib.metadata

    required = importlib.metadata.requires("ddcompat") or []
    core = [r.split(";")[0].strip() for r in required if "extra ==" not in r]
    names = {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in core}
    assert names.isdisjoint({"aiohttp", "kubernetes", "prometheus-client", "boto3", "pytest"})
