"""Chart fixtures: the real helm binary and rendered manifests per CI value set."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tools import ROOT, k8s_tool

CHART = ROOT / "helm" / "ddcompat"
VALUE_SETS = sorted((CHART / "ci").glob("*.yaml"))
NAMESPACE = "ddcompat-system"


@pytest.fixture(scope="session")
def helm() -> Path:
    return k8s_tool("helm")


def render(helm: Path, values: Path | None = None, *extra: str) -> list[dict[str, Any]]:
    cmd = [str(helm), "template", "rel", str(CHART), "--namespace", NAMESPACE, *extra]
    if values is not None:
        cmd += ["-f", str(values)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name_part: str = "") -> dict[str, Any]:
    found = [d for d in by_kind(docs, kind) if name_part in d["metadata"]["name"]]
    assert len(found) == 1, [d["metadata"]["name"] for d in by_kind(docs, kind)]
    return found[0]
