"""Cluster-wide injection (Single Step Instrumentation): the workloads a target selects
get its tracer and AppSec switches, with facts_source library_injection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ddcompat.shared import cli

HERE = Path(__file__).parent
SWAGSTORE = HERE / "injection" / "swagstore-ssi" / "datadog-agent.yaml"


def _deployment(name: str, image: str, env: dict[str, str], ns: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "server",
                            "image": image,
                            "env": [{"name": k, "value": v} for k, v in env.items()],
                        }
                    ]
                },
            }
        },
    }


def _run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, values: Path, docs: list[dict[str, Any]]
) -> tuple[int, dict[str, Any], str]:
    (tmp_path / "fleet.json").write_text(
        json.dumps({"kind": "List", "apiVersion": "v1", "items": docs})
    )
    code = cli.main(
        [
            "check",
            str(tmp_path / "fleet.json"),
            "--format",
            "json",
            "--datadog-values",
            str(values),
            "--matrix-edition",
            "current",
        ]
    )
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else {}, err


def test_a_target_selects_pods_by_label_expression(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, data, _ = _run(
        capsys,
        tmp_path,
        SWAGSTORE,
        [
            _deployment("recommendationservice", "python:3.12-slim", {"DD_APPSEC_ENABLED": "true"}),
            _deployment("reports", "python:3.12-slim", {"DD_APPSEC_ENABLED": "true"}),
        ],
    )
    by_name = {w["name"]: w for w in data["workloads"]}
    rec = by_name["recommendationservice"]
    assert rec["ddtrace_version"] == "3.3.0"  # ddTraceVersions.python: "3.3.0"
    assert rec["facts_source"]["ddtrace"] == "library_injection"
    assert by_name["reports"]["ddtrace_version"] is None  # no target selects it
    assert by_name["reports"]["verdict"] == "unverified"


def test_chart_values_with_asm_turn_appsec_on_for_selected_pods(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        "datadog:\n  apm:\n    instrumentation:\n      enabled: true\n"
        "      disabledNamespaces: [kube-system]\n"
        "      targets:\n        - name: py\n          namespaceSelector: {matchNames: [shop]}\n"
        '          ddTraceVersions: {python: "4"}\n'
        '          ddTraceConfigs: [{name: DD_APPSEC_SCA_ENABLED, value: "true"}]\n'
        "  asm:\n    threats: {enabled: true}\n"
    )
    (tmp_path / "ctx").mkdir()
    _, data, _ = _run(
        capsys,
        tmp_path / "ctx",
        values,
        [
            _deployment("api", "python:3.13", {}, ns="shop"),
            _deployment("batch", "python:3.13", {}, ns="jobs"),
        ],
    )
    by_name = {w["name"]: w for w in data["workloads"]}
    api = by_name["api"]
    assert api["ddtrace_version"] == "v4"
    assert set(api["features"]) >= {"threat_detection", "sca"}
    assert by_name["batch"]["features"] == {}  # no target: neither tracer nor AppSec


def test_a_pods_own_injection_annotation_wins(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doc = _deployment("recommendationservice", "python:3.12-slim", {"DD_APPSEC_ENABLED": "true"})
    doc["spec"]["template"]["metadata"]["annotations"] = {
        "admission.datadoghq.com/python-lib.version": "v4.16.0"
    }
    _, data, _ = _run(capsys, tmp_path, SWAGSTORE, [doc])
    assert data["workloads"][0]["ddtrace_version"] == "4.16.0"


def test_unreadable_settings_name_the_file_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("datadog:\n  apm:\n    instrumentation:\n      targets: {name: x}\n")
    (tmp_path / "ctx").mkdir()
    code, _, err = _run(capsys, tmp_path / "ctx", values, [])
    assert code == 2
    assert f"--datadog-values {values}: datadog.apm.instrumentation.targets" in err


def test_a_pod_the_cluster_agent_mutated_says_the_target_it_applied(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "api-7d9",
            "namespace": "application",
            "annotations": {
                # the cluster agent's own format (datadog-agent's webhook tests)
                "internal.apm.datadoghq.com/applied-target": (
                    '{"name":"Python Apps","namespaceSelector":{"matchNames":["application"]},'
                    '"ddTraceVersions":{"python":"v3"}}'
                )
            },
        },
        "spec": {
            "containers": [
                {
                    "name": "api",
                    "image": "python:3.12",
                    "env": [{"name": "DD_APPSEC_ENABLED", "value": "true"}],
                }
            ]
        },
    }
    (tmp_path / "pod.json").write_text(json.dumps(pod))
    cli.main(["check", str(tmp_path / "pod.json"), "--format", "json"])
    [w] = json.loads(capsys.readouterr().out)["workloads"]
    assert (w["ddtrace_version"], w["facts_source"]["ddtrace"]) == ("v3", "library_injection")


def test_settings_are_read_with_the_descriptors_bounds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):  # 10^9 nodes once expanded
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    lines.append("datadog: {apm: {instrumentation: {enabled: true, targets: *i}}}")
    values = tmp_path / "values.yaml"
    values.write_text("\n".join(lines) + "\n")
    (tmp_path / "ctx").mkdir()
    code, _, err = _run(capsys, tmp_path / "ctx", values, [])
    assert code == 2 and "aliases expand" in err
