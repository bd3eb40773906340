"""serverless-plugin-datadog adds the Datadog-Python layer its release pins (its
src/layers.json at each tag): known when the project's lock file names the release,
otherwise unknown with a warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ddcompat.shared import cli, policy, report
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared.parsers import serverless

SERVERLESS = """service: signup
frameworkVersion: "3"
plugins:
  - serverless-plugin-datadog
provider:
  name: aws
  runtime: python3.12
  architecture: arm64
custom:
  datadog:
    site: datadoghq.com
    enableASM: true
functions:
  handler:
    handler: app.handler
"""


def _run(root: Path) -> dict[str, Any]:
    m = matrix_mod.load(edition="current")
    return report.to_json(cli.run_check([str(root)], m, policy.DEFAULT))


def test_the_locked_plugin_release_says_the_layer(tmp_path: Path) -> None:
    (tmp_path / "serverless.yml").write_text(SERVERLESS)
    (tmp_path / "package-lock.json").write_text(
        json.dumps(
            {
                "name": "signup",
                "lockfileVersion": 3,
                "packages": {
                    "": {"devDependencies": {"serverless-plugin-datadog": "^5.127.0"}},
                    "node_modules/serverless-plugin-datadog": {"version": "5.127.0"},
                },
            }
        )
    )
    assert serverless.plugin_version(tmp_path) == "5.127.0"
    data = _run(tmp_path)
    [w] = data["workloads"]
    # 5.127.0's layers.json: Datadog-Python312-ARM:124 -> datadog-lambda 8.124.0
    assert w["facts_source"]["ddtrace"] == "lambda_layer"
    assert w["ddtrace_version"] == ">=4.1.1,<=4.7.1"
    assert not data["warnings"]


def test_an_unlocked_plugin_leaves_the_layer_unknown_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "serverless.yml").write_text(SERVERLESS)
    (tmp_path / "package.json").write_text(
        json.dumps({"devDependencies": {"serverless-plugin-datadog": "^5.127.0"}})
    )
    data = _run(tmp_path)
    [w] = data["workloads"]
    assert w["ddtrace_version"] is None
    [warning] = data["warnings"]
    assert "no package-lock.json" in warning["message"]
