"""Benchmark of the image inspector against a real registry on loopback.

One command: ``python bench/images.py [--n 6]``. It starts Debian's ``docker-registry``
(plain HTTP on loopback), builds N images as OCI layouts and pushes them with ``skopeo``:
each has a large base layer (random bytes, gzip) under a small top layer holding
``ddtrace-X.dist-info`` and the ``python3.12`` directory, so the walk stops after the top
layer; and one image whose only layer is large with the dist-info at its end (the walk must
read it all). It prints, measured in the same run:

* fresh inspections (no cache) against the floor of downloading the same bytes the
  inspector read (config and layers, plain GETs) and checking them against their digests
  (sha256, as any inspector that trusts no registry must): target <= 1.3x;
* bytes read against the images' size (what the early stop saves);
* a cache hit (``lookup`` of an inspected image): target <= 1 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ddcompat.shared.images import inspector, reference, registry
from tests.images.conftest import Layer, dist_info, layout
from tests.tools import free_port


def start_registry(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    (root / "config.yml").write_text(json.dumps(config))
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(root / "config.yml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"127.0.0.1:{port}"


def push(host: str, path: Path, name: str) -> str:
    ref = f"{host}/{name}"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            f"oci:{path}:latest",
            f"docker://{ref}",
        ],
        check=True,
    )
    return ref


def floor_seconds(host: str, image: str, digests: list[str]) -> float:
    """Plain GETs of the same bytes (the manifest, then the blobs), each hashed and checked
    against its digest (what a client that trusts no registry must do), then discarded."""
    ref = reference.parse(image)
    pool = urllib3.PoolManager()
    started = time.perf_counter()
    m = pool.request(  # the manifest, as the inspector fetches it
        "GET",
        f"http://{host}/v2/{ref.repository}/manifests/{ref.ref}",
        headers={"Accept": registry.ACCEPT},
    )
    assert hashlib.sha256(m.data).hexdigest()
    for d in digests:
        r = pool.request(
            "GET", f"http://{host}/v2/{ref.repository}/blobs/{d}", preload_content=False
        )
        h = hashlib.sha256()
        while chunk := r.read(1 << 16):
            h.update(chunk)
        r.release_conn()
        assert "sha256:" + h.hexdigest() == d
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--base-mib", type=int, default=32)
    args = ap.parse_args()
    for tool in ("docker-registry", "skopeo"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (make system-deps)")
            return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        proc, host = start_registry(root)
        try:
            images: list[tuple[str, int, int, list[str]]] = []
            for i in range(args.n):
                base = Layer({"opt/data.bin": os.urandom(args.base_mib << 20)})
                top = Layer({"usr/local/lib/python3.12/": b"", **dist_info("ddtrace", f"2.21.{i}")})
                images.append(_push_image(root, host, f"bench/app{i}:1", [base, top], 1))
            late = Layer(
                {
                    "opt/data.bin": os.urandom(args.base_mib << 20),
                    **dist_info("ddtrace", "4.13.1"),
                    "usr/local/lib/python3.13/": b"",
                }
            )
            images.append(_push_image(root, host, "bench/late:1", [late], 1))
            client = registry.Client(insecure=frozenset({host}))
            insp = inspector.Inspector(client)
            fresh = floor = 0.0
            read = size = 0
            for image, total, _, digests in images:
                started = time.perf_counter()
                facts = insp.inspect(image)
                fresh += time.perf_counter() - started
                assert facts.result == "ok" and facts.ddtrace, facts
                read += facts.bytes_read
                size += total
                floor += floor_seconds(host, image, digests)
            hit_image = images[0][0]
            insp.lookup(hit_image)
            started = time.perf_counter()
            for _ in range(1000):
                assert insp.lookup(hit_image) is not None
            hit_ms = time.perf_counter() - started  # per lookup: /1000 * 1000
        finally:
            proc.terminate()
            proc.wait(10)
    ratio = fresh / floor if floor else float("inf")
    print(f"image inspector: {len(images)} fresh images from a local registry")
    print(f"  inspect {fresh:.2f} s vs downloading the same bytes {floor:.2f} s: {ratio:.2f}x")
    print(f"  read {read / 2**20:.1f} MiB of {size / 2**20:.1f} MiB ({100 * read / size:.1f}%)")
    print(f"  cache hit: {hit_ms:.3f} ms per lookup")
    return common.report(
        [
            (f"fresh inspection / download floor = {ratio:.2f} (target <= 1.3)", ratio <= 1.3),
            (f"cache hit {hit_ms:.3f} ms (target <= 1 ms)", hit_ms <= 1.0),
        ]
    )


def _push_image(
    root: Path, host: str, name: str, layers: list[Layer], read_layers: int
) -> tuple[str, int, int, list[str]]:
    """Push; returns (reference, image size, 0, the blobs an early-stopping walk reads)."""
    path = layout(root / name.replace("/", "_").replace(":", "_"), [(layers, [], "amd64")])
    ref = push(host, path, name)
    index = json.loads((path / "index.json").read_text())
    manifest = json.loads(
        (path / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text()
    )
    descs = manifest["layers"]
    total = sum(d["size"] for d in descs) + manifest["config"]["size"]
    top = [d["digest"] for d in reversed(descs)][:read_layers]
    return ref, total, 0, [manifest["config"]["digest"], *top]


if __name__ == "__main__":
    sys.exit(main())
