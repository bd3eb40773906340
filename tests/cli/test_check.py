"""`ddcompat check` and `ddcompat matrix show` as users run them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ddcompat.shared import cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCHEMA = json.loads(
    resources.files("ddcompat.shared.schemas").joinpath("check-output.schema.json").read_text()
)

GOOD = """apiVersion: apps/v1
kind: Deployment
metadata: {name: good, namespace: prod}
spec:
  template:
    metadata: {annotations: {ddcompat.io/ddtrace-version: "1.20.0"}}
    spec:
      containers:
        - {name: app, image: "python:3.11", env: [{name: DD_APPSEC_ENABLED, value: "true"}]}
"""
OLD = GOOD.replace("good", "old").replace("1.20.0", "1.8.0")
PREVIEW = GOOD.replace("good", "iast").replace("DD_APPSEC_ENABLED", "DD_IAST_ENABLED")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_exit_0_when_compliant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "good.yaml", GOOD)
    code, out, _ = run(capsys, "check", str(tmp_path), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["summary"] == {
        "workloads": 1,
        "compliant": 1,
        "noncompliant": 0,
        "unverified": 0,
        "exempt": 0,
        "fail_on": "error",
        "skipped_containers": 0,
        "ignored_files": 0,
        "errors": 0,
        "not_python": 0,
        "warnings": 0,
        "kinds_not_understood": 0,
        "exempt_by_source": {"annotation": 0, "policy": 0},
        "exemptions_refused": 0,
    }


def test_exit_1_on_error_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "old.yaml", OLD)
    code, out, _ = run(capsys, "check", str(tmp_path / "old.yaml"), "--format", "json")
    assert code == 1
    w = json.loads(out)["workloads"][0]
    assert w["id"] == "kubernetes/Deployment/prod/old/app"
    assert w["verdict"] == "noncompliant" and w["verify"] == []
    reason = w["features"]["threat_detection"]["reasons"][0]
    assert (reason["code"], reason["required"], reason["observed"]) == (
        "DDTRACE_TOO_OLD",
        ">=1.9.0",
        "1.8.0",
    )


def test_fail_on_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "iast.yaml", PREVIEW)
    assert run(capsys, "check", str(tmp_path), "--format", "json")[0] == 0
    assert run(capsys, "check", str(tmp_path), "--format", "json", "--fail-on", "warning")[0] == 1


def test_exempt_workload_does_not_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = OLD.replace(
        "metadata: {name: old, namespace: prod}",
        "metadata: {name: old, namespace: prod, annotations: {ddcompat.io/exempt: EOL}}",
    )
    write(tmp_path, "old.yaml", text)
    code, out, _ = run(capsys, "check", str(tmp_path), "--format", "json")
    assert code == 0
    assert json.loads(out)["workloads"][0]["exempt"] == "EOL"


def test_bad_file_is_exit_2_and_others_still_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "a/good.yaml", GOOD)
    write(tmp_path, "b/broken.yaml", "kind: Pod\napiVersion: v1\nmetadata: [\n")
    write(tmp_path, "c/old.yaml", OLD)
    code, out, err = run(capsys, "check", str(tmp_path), "--format", "json")
    assert code == 2
    data = json.loads(out)
    assert {w["name"] for w in data["workloads"]} == {"good", "old"}
    assert data["summary"]["errors"] == 1
    assert "broken.yaml" in err and "not valid YAML" in err
    jsonschema.validate(data, SCHEMA)


def test_missing_path_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check", str(tmp_path / "nope.yaml"), "--format", "json")
    assert code == 2 and "nope.yaml: no such file or directory" in err


def test_unrecognised_explicit_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = write(tmp_path, "values.yaml", "replicaCount: 2\n")
    code, _, err = run(capsys, "check", str(p), "--format", "json")
    assert code == 2 and "not a recognised deployment descriptor" in err
    # ... but in a directory walk it is only listed as ignored
    code, out, _ = run(capsys, "check", str(tmp_path), "--format", "json")
    assert code == 0 and json.loads(out)["summary"]["ignored_files"] == 1


def test_bad_policy_or_matrix_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "good.yaml", GOOD)
    pol = write(tmp_path, "pol/p.yml", "severities: {NOPE: error}\n")
    code, _, err = run(capsys, "check", str(tmp_path / "good.yaml"), "--policy", str(pol))
    assert code == 2 and "p.yml: severities.NOPE" in err
    mx = write(tmp_path, "mx/m.yml", "runtimes: [{os: linux}]\n")
    code, _, err = run(capsys, "check", str(tmp_path / "good.yaml"), "--matrix", str(mx))
    assert code == 2 and "m.yml: runtimes[0] (os='linux').arch: Field required" in err


def test_usage_error_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["check", "x", "--format", "pdf"])
    assert exc.value.code == 2


def test_policy_requires_features(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD.replace("1.20.0", "1.9.0")
    write(tmp_path, "d.yaml", text)
    assert run(capsys, "check", str(tmp_path / "d.yaml"), "--format", "json")[0] == 0
    pol = write(
        tmp_path, "pol/p.yaml", "require: [{features: [threat_protection], namespaces: [prod]}]\n"
    )
    code, out, _ = run(
        capsys, "check", str(tmp_path / "d.yaml"), "--format", "json", "--policy", str(pol)
    )
    assert code == 1
    tp = json.loads(out)["workloads"][0]["features"]["threat_protection"]
    assert tp["required_by_policy"] and tp["status"] == "unsupported"


def test_examples_validate_against_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "check",
        str(EXAMPLES),
        "--format",
        "json",
        "--policy",
        str(EXAMPLES / "policy.yaml"),
    )
    assert code == 1
    data = json.loads(out)
    jsonschema.validate(data, SCHEMA)
    types = {w["deployment_type"] for w in data["workloads"]}
    assert types == {"kubernetes", "docker", "ecs", "fargate", "lambda"}
    assert 0 < data["summary"]["compliant"] < data["summary"]["workloads"]
    assert data["summary"]["errors"] == 0


def test_sarif_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", str(EXAMPLES), "--format", "sarif")
    assert code == 1
    sarif: dict[str, Any] = json.loads(out)
    assert sarif["version"] == "2.1.0"
    (sarif_run,) = sarif["runs"]
    rules = [r["id"] for r in sarif_run["tool"]["driver"]["rules"]]
    assert "DDTRACE_TOO_OLD" in rules and "DEPLOYMENT_UNSUPPORTED" in rules
    levels = {r["level"] for r in sarif_run["results"]}
    assert levels <= {"error", "warning", "note"} and "error" in levels
    for r in sarif_run["results"]:
        assert rules[r["ruleIndex"]] == r["ruleId"]
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith(
            str(EXAMPLES)
        )
    exempt = [r for r in sarif_run["results"] if "suppressions" in r]
    assert exempt and all(r["level"] == "note" for r in exempt)


def test_junit_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", str(EXAMPLES), "--format", "junit")
    assert code == 1
    root = ET.fromstring(out)
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    failures = root.findall("./testsuite/testcase/failure")
    assert int(root.get("tests", "0")) == len(cases)
    assert int(root.get("failures", "0")) == len(failures) > 0
    assert any(f.get("type") == "DEPLOYMENT_UNSUPPORTED" for f in failures)
    assert root.findall("./testsuite/testcase/skipped")  # the exempt workload


def test_table_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "old.yaml", OLD)
    code, out, _ = run(capsys, "check", str(tmp_path), "--format", "table")
    assert code == 1
    assert "kubernetes/Deployment/prod/old/app" in out and "DDTRACE_TOO_OLD(E)" in out
    assert "1 workloads: 0 compliant, 1 noncompliant, 0 unverified, 0 exempt" in out


def test_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "good.yaml", GOOD)
    dest = tmp_path / "out" / "report.json"
    dest.parent.mkdir()
    code, out, _ = run(
        capsys, "check", str(tmp_path / "good.yaml"), "--format", "json", "-o", str(dest)
    )
    assert code == 0 and out == ""
    assert json.loads(dest.read_text())["summary"]["workloads"] == 1


def test_exclude_glob(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "good.yaml", GOOD)
    write(tmp_path, "old.yaml", OLD)
    code, out, _ = run(capsys, "check", str(tmp_path), "--format", "json", "--exclude", "old*")
    assert code == 0 and [w["name"] for w in json.loads(out)["workloads"]] == ["good"]


def test_matrix_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "matrix", "show")
    assert code == 0
    for heading in (
        "Features",
        "Deployment types",
        "Release branches",
        "Runtimes",
        "Web frameworks",
        "Authentication frameworks",
        "Caveats",
    ):
        assert f"\n{heading}\n" in out
    assert "3.5-3.11" in out and "FLASK_QUERY_STRING" in out
    code, out, _ = run(capsys, "matrix", "show", "--format", "json")
    data = json.loads(out)
    assert [f["id"] for f in data["features"]][:2] == ["threat_detection", "threat_protection"]
    # each row's fields in the order the matrix file's schema gives them
    from ddcompat.shared.matrix import schema

    for section, model in schema.ROW_MODELS.items():
        for row in data[section]:
            assert list(row) == list(model.model_fields), section


def test_console_script_is_installed(tmp_path: Path) -> None:
    exe = shutil.which("ddcompat", path=str(Path(sys.executable).parent))
    assert exe, "the ddcompat console script is not installed next to this Python"
    write(tmp_path, "old.yaml", OLD)
    proc = subprocess.run(
        [exe, "check", str(tmp_path), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["summary"]["workloads"] == 1


def test_files_named_on_the_command_line_are_read_as_what_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13.4/13.8: a Dockerfile by any name is never "not valid YAML"; a lock file
    says what it is; python:3 is a floating tag."""
    odd = write(
        tmp_path,
        "build/api.image",
        "# syntax=docker/dockerfile:1\nFROM python:3\nENV DD_APPSEC_ENABLED=true\n",
    )
    lock = write(tmp_path, "requirements.txt", "ddtrace==2.21.4\n")
    code, out, err = run(capsys, "check", str(odd), str(lock), "--format", "json")
    data = json.loads(out)
    assert code == 2
    assert [e["message"] for e in data["errors"]] == [
        "not a deployment descriptor (a lock file: it is read beside a Dockerfile)"
    ]
    [w] = data["workloads"]
    reasons = w["features"]["threat_detection"]["reasons"]
    floating = [r for r in reasons if r["code"] == "PYTHON_UNKNOWN"]
    assert floating and "floating tag" in floating[0]["message"]
    assert "not valid YAML" not in err


# DataDog/serverless-plugin-datadog@c23bce7 tsconfig.json (JSON with comments), abridged
TSCONFIG = """{
  "compilerOptions": {
    /* Basic Options */
    "target": "es2018",
    "module": "commonjs",
    "declaration": true
  }
}
"""
# an mkdocs.yml as the Material theme documents it (a tag the safe loader refuses)
MKDOCS = """site_name: shop
markdown_extensions:
  - pymdownx.emoji:
      emoji_index: !!python/name:material.extensions.emoji.twemoji
"""


def test_unparsable_files_of_other_tools_are_ignored_in_walks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "tsconfig.json", TSCONFIG)
    write(tmp_path, "mkdocs.yml", MKDOCS)
    write(tmp_path, "k8s/broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: [\n")
    code, out, _ = run(capsys, "check", str(tmp_path), "--format", "json")
    data = json.loads(out)
    # a broken manifest is still an input error; the other tools' files are not
    assert [Path(e["source"]).name for e in data["errors"]] == ["broken.yaml"]
    ignored = {Path(f["path"]).name: f["reason"] for f in data["ignored_files"]}
    assert set(ignored) == {"tsconfig.json", "mkdocs.yml"}
    assert "nothing in it looks like a deployment descriptor" in ignored["tsconfig.json"]
    assert code == 2
