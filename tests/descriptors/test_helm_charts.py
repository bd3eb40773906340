"""Walks over repositories that hold Helm charts (issue 13.7), with the real helm binary:
a chart's templates are skipped and listed with one hint, or rendered with
``--helm-render`` and their workloads judged."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ddcompat.shared import cli
from tests.tools import k8s_tool


@pytest.fixture(scope="module")
def chart_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with the chart `helm create` writes (the templates most charts grow
    from), its image set to a Python one with AppSec on, and a plain manifest beside it."""
    root = tmp_path_factory.mktemp("repo")
    helm = k8s_tool("helm")
    subprocess.run([str(helm), "create", "shop"], cwd=root, check=True, capture_output=True)
    values = root / "shop" / "values.yaml"
    text = values.read_text()
    text = text.replace("repository: nginx", "repository: python").replace(
        'tag: ""', 'tag: "3.12-slim"'
    )
    values.write_text(text)
    deployment = root / "shop" / "templates" / "deployment.yaml"
    d = deployment.read_text()
    d = d.replace(
        "          imagePullPolicy:",
        '          env:\n            - name: DD_APPSEC_ENABLED\n              value: "true"\n'
        "          imagePullPolicy:",
        1,
    )
    deployment.write_text(d)
    # a manifest with template actions kept beside Chart.yaml (outside templates/)
    (root / "shop" / "extra-pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: {{ .Release.Name }}-extra}\n"
        "spec: {containers: [{name: x, image: python:3.12}]}\n"
    )
    (root / "k8s").mkdir()
    (root / "k8s" / "job.yaml").write_text(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate}\nspec:\n  template:\n"
        "    spec:\n      containers:\n      - name: m\n        image: python:3.12\n"
        "        env: [{name: DD_APPSEC_ENABLED, value: 'true'}]\n"
    )
    return root


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = cli.main(["check", "--format", "json", "--matrix-edition", "current", *args])
    return code, json.loads(capsys.readouterr().out)


def test_templates_are_skipped_and_listed_with_one_hint(
    chart_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = check(capsys, str(chart_repo))
    assert code in (0, 1) and data["errors"] == []  # before: "not valid YAML" per template
    ids = [w["id"] for w in data["workloads"]]
    assert ids == ["kubernetes/Job/-/migrate/m"]
    ignored = {Path(f["path"]).name: f["reason"] for f in data["ignored_files"]}
    assert "deployment.yaml" in ignored and "helm template" in ignored["deployment.yaml"]
    assert "helm template" in ignored["extra-pod.yaml"]
    hints = [w for w in data["warnings"] if "Helm chart" in w["message"]]
    assert len(hints) == 1 and hints[0]["source"].endswith("shop")


def test_helm_render_judges_the_charts_workloads(
    chart_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    helm = k8s_tool("helm")
    _, data = check(capsys, "--helm-render", "--helm", str(helm), str(chart_repo))
    assert data["errors"] == []
    by_id = {w["id"]: w for w in data["workloads"]}
    web = by_id["kubernetes/Deployment/-/ddcompat-shop/shop"]
    assert web["python_version"] == "3.12"
    assert web["source"].endswith("shop/templates/deployment.yaml (rendered)")
    assert "kubernetes/Job/-/migrate/m" in by_id
    # the helm test pod of the scaffold is read too (busybox: no Python signal, skipped)
    assert data["summary"]["skipped_containers"] >= 1


def test_helm_render_without_helm_is_a_clear_error(
    chart_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = check(capsys, "--helm-render", "--helm", "/nonexistent/helm", str(chart_repo))
    assert code == 2
    [err] = data["errors"]
    assert "helm not found" in err["message"] and err["source"].endswith("shop")
