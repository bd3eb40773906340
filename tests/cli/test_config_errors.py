"""A bad matrix or policy file stops every command the same way: one line naming the
file and field on stderr, exit status 2, no traceback (the servers never start)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BAD_MATRIX = "runtimes:\n  - {os: linux, python: ['3.11'], ddtrace: '>=2', source: x}\n"
BAD_POLICY = "severities: {NOT_A_CODE: error}\n"


def _ddcompat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from ddcompat.shared.cli import main; sys.exit(main())",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


COMMANDS = {
    "check": ["check", "examples"],
    "matrix show": ["matrix", "show"],
    "webhook serve": ["webhook", "serve", "--tls-cert", "c.pem", "--tls-key", "k.pem"],
    "scanner run": ["scanner", "run", "--path", "examples", "--port", "0"],
}


BAD = {"--matrix": (BAD_MATRIX, "runtimes[0]"), "--policy": (BAD_POLICY, "severities.NOT_A_CODE")}
CASES = [(c, o) for c in COMMANDS for o in BAD if (c, o) != ("matrix show", "--policy")]


@pytest.mark.parametrize(("command", "option"), CASES)
def test_a_bad_file_is_one_line_and_exit_2(tmp_path: Path, command: str, option: str) -> None:
    text, named = BAD[option]
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    out = _ddcompat(*COMMANDS[command], option, str(bad))
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert str(bad) in lines[0] and named in lines[0]
