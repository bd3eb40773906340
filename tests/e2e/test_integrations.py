"""CI integrations (issue 18.3): the pre-commit hook with the real `pre-commit` tool on a
temporary repository, and the GitHub Action's check step run as the runner runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.tools import ROOT

OLD = """apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  template:
    metadata:
      annotations: {ddcompat.io/ddtrace-version: "1.9.0"}
    spec:
      containers:
      - name: web
        image: python:3.11-slim
        env:
        - {name: DD_APPSEC_ENABLED, value: "true"}
        - {name: DD_REMOTE_CONFIGURATION_ENABLED, value: "true"}
"""
WORKFLOW = "name: ci\non: [push]\njobs: {test: {runs-on: ubuntu-latest, steps: []}}\n"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_the_pre_commit_hook_on_a_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "k8s").mkdir(parents=True)
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / "k8s" / "api.yaml").write_text(OLD)
    (repo / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    pre_commit = Path(sys.executable).parent / "pre-commit"

    def run() -> subprocess.CompletedProcess[str]:
        # try-repo: the hook definitions of this repository, installed as a user's would be
        return subprocess.run(
            [str(pre_commit), "try-repo", str(ROOT), "ddcompat-check", "--all-files"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    out = run()
    assert out.returncode == 1, out.stdout + out.stderr
    assert "DDTRACE_TOO_OLD" in out.stdout
    assert "ci.yml" not in out.stdout or "not a recognised" not in out.stdout
    (repo / "k8s" / "api.yaml").write_text(OLD.replace("1.9.0", "2.21.4"))
    git(repo, "add", ".")
    fixed = run()
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_the_actions_check_step(tmp_path: Path) -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    [check] = [s for s in action["runs"]["steps"] if s.get("id") == "check"]
    (tmp_path / "api.yaml").write_text(OLD)
    output = tmp_path / "github-output"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "INPUT_PATHS": "api.yaml",
        "INPUT_POLICY": "",
        "INPUT_EDITION": "current",
        "INPUT_FAIL_ON": "error",
        "INPUT_SARIF_FILE": "out.sarif",
        "GITHUB_OUTPUT": str(output),
    }
    done = subprocess.run(
        ["bash", "-e", "-c", check["run"]], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr  # the last step fails the job, not this one
    assert "exit-code=1" in output.read_text()
    sarif = json.loads((tmp_path / "out.sarif").read_text())
    rules = {r["ruleId"] for run in sarif["runs"] for r in run["results"]}
    assert "DDTRACE_TOO_OLD" in rules
    assert "::error::ddcompat check exited with 1" in done.stdout
    names = [s["name"] for s in action["runs"]["steps"]]
    assert names == ["Install ddcompat", "Check", "Upload SARIF", "Fail on findings"]
