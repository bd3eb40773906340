"""A peer checker accepts the chart (issue 18.5): kube-score (built from the Go module
proxy) over `helm template` of every CI value set finds nothing but the deliberate
exceptions, and each exception is written down in values.yaml as
``kube-score exception (<check>): <why>``."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.helm.conftest import CHART, NAMESPACE, VALUE_SETS
from tests.tools import go_tool, k8s_tool

KUBE_SCORE = "github.com/zegl/kube-score/cmd/kube-score@v1.20.0"
# the one exception kube-score takes as a flag rather than a check id (its CPU-limit half
# of container-resources)
FLAGS = {"container-cpu-limit": "--ignore-container-cpu-limit"}


def exceptions() -> list[str]:
    text = (CHART / "values.yaml").read_text()
    return sorted(set(re.findall(r"# kube-score exception \(([a-z-]+)\):", text)))


def ignore_args(ids: list[str]) -> list[str]:
    args: list[str] = []
    for check in ids:
        args += [FLAGS[check]] if check in FLAGS else ["--ignore-test", check]
    return args


@pytest.fixture(scope="module")
def kube_score() -> Path:
    return go_tool("kube-score", KUBE_SCORE)


def score(kube_score: Path, values: Path, *args: str) -> list[tuple[str, str, str]]:
    """(check id, object, comment) of every finding kube-score grades below OK."""
    rendered = subprocess.run(
        [
            str(k8s_tool("helm")),
            "template",
            "rel",
            str(CHART),
            "--namespace",
            NAMESPACE,
            "-f",
            str(values),
            # everything optional on: its RBAC, accounts and args are scored too
            "--set",
            "webhook.events.enabled=true",
            "--set",
            "scanner.events.enabled=true",
            "--set",
            "scanner.policyReports.enabled=true",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    out = subprocess.run(
        [str(kube_score), "score", "--output-format", "json", *args, "-"],
        input=rendered,
        capture_output=True,
        text=True,
    )
    assert out.returncode in (0, 1), out.stderr
    found = []
    for obj in json.loads(out.stdout):
        for c in obj["checks"]:
            if not c["skipped"] and c["grade"] < 10:
                for comment in c.get("comments") or [{"summary": ""}]:
                    found.append((c["check"]["id"], obj["object_name"], comment["summary"]))
    return sorted(found)


@pytest.mark.parametrize("values", VALUE_SETS, ids=[v.stem for v in VALUE_SETS])
def test_kube_score_accepts_the_chart(kube_score: Path, values: Path) -> None:
    assert score(kube_score, values, *ignore_args(exceptions())) == []


def test_each_exception_is_needed_and_documented(kube_score: Path) -> None:
    """Without the exceptions kube-score reports exactly them: none is stale, and the
    NetworkPolicies, ephemeral storage, scanner PDB and anti-affinity it asked for are there."""
    assert exceptions() == ["container-cpu-limit", "container-image-pull-policy"]
    found = score(kube_score, VALUE_SETS[0])
    kinds = {(check, summary) for check, _, summary in found}
    assert kinds == {
        ("container-resources", "CPU limit is not set"),
        ("container-image-pull-policy", "ImagePullPolicy is not set to Always"),
    }
