"""Reports are safe to print (issue 23.6): names and values from descriptors reach a
terminal with their control characters escaped, and JUnit/SARIF stay well-formed
whatever the names hold."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ddcompat.shared import cli

# a name that clears the screen, sets the window title, hides text and reorders it
HOSTILE = "api\x1b[2J\x1b]0;pwned\x07\x1b[8mhidden\u202eevil\x00\x0b\x7f\x9b"


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    (tmp_path / "deploy.json").write_text(
        json.dumps(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": HOSTILE, "namespace": "prod"},
                "spec": {
                    "template": {
                        "metadata": {"annotations": {"ddcompat.io/ddtrace-version": "1.8.0"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": HOSTILE,
                                    "image": "python:3.11",
                                    "env": [{"name": "DD_APPSEC_ENABLED", "value": "true"}],
                                }
                            ]
                        },
                    }
                },
            }
        )
    )
    # an input error whose text holds the escape too (a bad ddtrace annotation)
    (tmp_path / "bad.json").write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": "bad",
                    "annotations": {"ddcompat.io/features": "threat_detection,\x1b[31mred"},
                },
                "spec": {"containers": [{"name": "c", "image": "python:3.11"}]},
            }
        )
    )
    return tmp_path


def _no_controls(text: str) -> None:
    bad = [c for c in text if (ord(c) < 0x20 and c not in "\n") or 0x7F <= ord(c) < 0xA0]
    bad += [c for c in text if 0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069]
    assert not bad, f"raw control characters in output: {bad!r}"


def test_the_table_escapes_control_characters(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["check", str(fleet), "--format", "table", "-v"])
    out, err = capsys.readouterr()
    assert code in (1, 2)
    _no_controls(out)
    _no_controls(err)
    assert "\\x1b[2J" in out  # shown, as an escape
    assert "\\u202e" in out


def test_junit_is_well_formed_with_any_name(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.main(["check", str(fleet), "--format", "junit"])
    out, _ = capsys.readouterr()
    root = ET.fromstring(out)  # raises on a character XML cannot hold
    names = {c.get("classname") for c in root.iter("testcase")}
    assert any(n and "\\x1b[2J" in n for n in names)


def test_sarif_is_valid_json_with_any_name(fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["check", str(fleet), "--format", "sarif"])
    out, _ = capsys.readouterr()
    _no_controls(out)  # escaped by JSON itself
    doc = json.loads(out)
    messages = [r["message"]["text"] for run in doc["runs"] for r in run["results"]]
    assert any(HOSTILE in m for m in messages)
