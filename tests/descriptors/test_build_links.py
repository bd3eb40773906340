"""Images linked to the files that build them: a compose service with image and build, a
skaffold artifact; a manifest elsewhere in the walk that runs the image takes what the
Dockerfile says (facts_source: build); two build files that disagree leave it unknown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ddcompat.shared import cli, policy, report
from ddcompat.shared import matrix as matrix_mod

COMPOSE = "services:\n  dbm:\n    image: ghcr.io/acme/dbm\n    build: ./%s\n"
DOCKERFILE = "FROM python:3.9-slim\nRUN pip install ddtrace==3.14.3\n"
MANIFEST = """apiVersion: apps/v1
kind: Deployment
metadata: {name: dbm, namespace: shop}
spec:
  template:
    spec:
      containers:
        - name: dbm
          image: ghcr.io/acme/dbm:${TAG}
          env: [{name: DD_APPSEC_ENABLED, value: "true"}]
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def _run(root: Path, m: matrix_mod.Matrix) -> dict[str, Any]:
    return report.to_json(cli.run_check([str(root)], m, policy.DEFAULT))


def test_a_compose_service_links_its_image_to_a_manifest(
    tmp_path: Path, seed_matrix: matrix_mod.Matrix
) -> None:
    _write(
        tmp_path,
        {
            "docker-compose.yml": (
                "services:\n  dbm:\n    image: ghcr.io/acme/dbm:latest\n    build: ./dbm\n"
            ),
            "dbm/Dockerfile": DOCKERFILE,
            "deploy/k8s/dbm.yaml": MANIFEST,
        },
    )
    data = _run(tmp_path, seed_matrix)
    [k8s] = [w for w in data["workloads"] if w["deployment_type"] == "kubernetes"]
    assert (k8s["ddtrace_version"], k8s["python_version"]) == ("3.14.3", "3.9")
    assert k8s["facts_source"]["ddtrace"] == "build"


def test_two_build_files_that_disagree_leave_the_image_unknown(
    tmp_path: Path, seed_matrix: matrix_mod.Matrix
) -> None:
    _write(
        tmp_path,
        {
            "docker-compose.yml": COMPOSE % "a",
            "compose.prod.yaml": COMPOSE % "b",
            "a/Dockerfile": DOCKERFILE,
            "b/Dockerfile": "FROM python:3.12\nRUN pip install ddtrace==4.16.0\n",
            "dbm.yaml": MANIFEST,
        },
    )
    data = _run(tmp_path, seed_matrix)
    k8s = [w for w in data["workloads"] if w["deployment_type"] == "kubernetes"]
    assert [w["ddtrace_version"] for w in k8s] == [None]  # judged as before: unknown
    warnings = [w["message"] for w in data["warnings"]]
    assert any("built by 2 build files that disagree" in m for m in warnings), warnings
