"""`ddcompat check --inspect-images` against the real registry (issue 16.4/16.5)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ddcompat.shared import cli
from tests.images.conftest import PASSWORD, USER, Layer, Registry, dist_info, layout

MANIFEST = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: shop}}
spec:
  template:
    metadata:
      annotations: {annotations}
    spec:
      containers:
      - name: app
        image: {image}
        env: [{{name: DD_APPSEC_ENABLED, value: "true"}}]
"""


@pytest.fixture(scope="module")
def image(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("app")
    layer = Layer(
        {
            "usr/local/lib/python3.12/": b"",
            **dist_info("ddtrace", "4.13.1"),
            **dist_info("flask", "3.0.3"),
        }
    )
    return registry.push(
        layout(d / "oci", [([layer], ["PYTHON_VERSION=3.12.7"], "amd64")]), "shop/app:2026.11.3"
    )


def docker_config(path: Path, reg: Registry, password: str) -> Path:
    auth = base64.b64encode(f"{USER}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {f"https://{reg.host}": {"auth": auth}}}))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = cli.main(["check", "--format", "json", "--matrix-edition", "current", *args])
    return code, json.loads(capsys.readouterr().out)


def test_facts_from_the_image_in_its_registry(
    registry: Registry,
    image: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DDCOMPAT_CACHE_DIR", str(tmp_path / "cache"))
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(MANIFEST.format(image=image, annotations="{}"))
    config = docker_config(tmp_path / "config.json", registry, PASSWORD)
    args = [
        "--inspect-images",
        "--registry-config",
        str(config),
        "--registry-ca",
        str(registry.ca_file),
    ]
    code, data = run(capsys, *args, str(manifest))
    [w] = data["workloads"]
    assert (w["ddtrace_version"], w["python_version"]) == ("4.13.1", "3.12.7")
    assert w["facts_source"]["ddtrace"] == "image_layers"
    assert w["facts_source"]["python"] == "image_config"
    assert w["features"]["threat_detection"]["status"] == "supported"
    assert data["warnings"] == [] and code == 0
    # without inspection the same workload knows nothing of its versions
    _, plain = run(capsys, str(manifest))
    assert plain["workloads"][0]["ddtrace_version"] is None
    # an annotation still wins over the image
    manifest.write_text(
        MANIFEST.format(image=image, annotations='{"ddcompat.io/ddtrace-version": "2.21.4"}')
    )
    _, pinned = run(capsys, *args, str(manifest))
    assert pinned["workloads"][0]["ddtrace_version"] == "2.21.4"


def test_a_registry_that_refuses_is_a_warning_not_an_error(
    registry: Registry,
    image: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(MANIFEST.format(image=image, annotations="{}"))
    config = docker_config(tmp_path / "config.json", registry, "wrong")
    code, data = run(
        capsys,
        "--inspect-images",
        "--registry-config",
        str(config),
        "--registry-ca",
        str(registry.ca_file),
        str(manifest),
    )
    assert code in (0, 1) and data["errors"] == []
    [warning] = data["warnings"]
    assert "image not inspected (unauthorized)" in warning["message"]
    assert "wrong" not in json.dumps(data)  # never a credential in the report
    assert data["workloads"][0]["ddtrace_version"] is None
