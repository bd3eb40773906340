"""A hostile registry on loopback, for the image tests to reuse: it answers what a test
scripts, path by path (lying digests, endless or dripping bodies, redirects, token
challenges that point elsewhere, bombs), over TLS, and records every request it gets.
A second host (127.0.0.2, also loopback) stands for "another site": blob storage, a
token service, an attacker's collector.

Images are built here in memory (:func:`image`): a manifest, its config and layers, each
with its true digest, so a test changes exactly one thing about them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme

from tests.tools import write_leaf

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(files: dict[str, bytes]) -> bytes:
    """A tar of ``files`` (a path ending in ``/`` is a directory)."""
    from tests.images.conftest import Layer

    return Layer(files).tar()


@dataclass
class Image:
    """A manifest and the blobs it names; ``digest`` is the manifest's true digest."""

    manifest: bytes
    blobs: dict[str, bytes]
    layer_digests: list[str]
    config_digest: str

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)


def image(
    layers: Iterable[bytes] = (),
    *,
    env: Iterable[str] = ("PYTHON_VERSION=3.12.4",),
    media: str = GZIP_LAYER,
    manifest_extra: dict[str, Any] | None = None,
    raw_layers: Iterable[tuple[str, str]] = (),
) -> Image:
    """An image of these (already compressed) layer blobs; ``raw_layers``: descriptors
    (digest, media type) listed as they are, with no blob behind them."""
    blobs: dict[str, bytes] = {}
    descs = []
    for blob in layers:
        d = digest_of(blob)
        blobs[d] = blob
        descs.append({"mediaType": media, "digest": d, "size": len(blob)})
    descs += [{"mediaType": m, "digest": d, "size": 1} for d, m in raw_layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": list(env)}})
    cdigest = digest_of(config.encode())
    blobs[cdigest] = config.encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": cdigest,
            "size": len(config),
        },
        "layers": descs,
        **(manifest_extra or {}),
    }
    return Image(json.dumps(manifest).encode(), blobs, [str(d["digest"]) for d in descs], cdigest)


def ddtrace_layer(version: str = "3.17.2") -> bytes:
    d = f"usr/local/lib/python3.12/site-packages/ddtrace-{version}.dist-info/"
    return gzip.compress(tar_of({d: b"", d + "METADATA": b"Name: ddtrace\n"}), mtime=0)


# -- the server --------------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


Route = Callable[["Handler"], object]


def answer(body: bytes, headers: dict[str, str] | None = None, status: int = 200) -> Route:
    """A route that answers ``body`` (with ``headers`` and ``status``)."""

    def route(h: Handler) -> None:
        h.send(status, body, headers)

    return route


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _route(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server.owner.seen.append(
            Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
        )
        route = self.server.owner.routes.get(path) or self.server.owner.routes.get("*")
        try:
            if route is None:
                self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass  # (the client gave up: that is the point of many of these)
        finally:
            self.server.owner.finished += 1

    do_GET = do_HEAD = _route

    def send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def stream(
        self,
        chunks: Iterator[bytes],
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        status: int = 200,
    ) -> None:
        """A chunked body from ``chunks`` (endless, or dripping with ``delay``), until the
        client goes away or the server stops."""
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            if self.server.owner.stopping.is_set():
                return
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.flush()
            if delay:
                time.sleep(delay)
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: HostileRegistry


@dataclass
class HostileRegistry:
    """One scripted server; ``routes`` maps a path (``*``: any other) to what it does."""

    server: _Server
    scheme: str
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    # requests answered to the end, or given up by the client
    finished: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def host(self) -> str:
        addr, port = self.server.server_address[:2]
        return f"{addr!s}:{port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def serve_image(self, repository: str, img: Image, tag: str = "latest") -> None:
        """Answer for ``img`` as an honest registry would (by tag and by digest)."""
        headers = {"Content-Type": MANIFEST_TYPE, "Docker-Content-Digest": img.digest}
        for which in (tag, img.digest):
            self.routes[f"/v2/{repository}/manifests/{which}"] = answer(img.manifest, headers)
        for d, blob in img.blobs.items():
            self.routes[f"/v2/{repository}/blobs/{d}"] = answer(blob)

    def authorization_seen(self) -> list[str]:
        return [s.headers["authorization"] for s in self.seen if "authorization" in s.headers]

    def close(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def start(address: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> HostileRegistry:
    server = _Server((address, 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    owner = HostileRegistry(server, "https" if tls is not None else "http")
    server.owner = owner
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return owner


@dataclass
class HostileTLS:
    """TLS for the hostile hosts: a CA (its file for the client) and a server context
    valid for 127.0.0.1 and 127.0.0.2."""

    ca_file: Path
    context: ssl.SSLContext


def hostile_tls(directory: Path) -> HostileTLS:
    ca = trustme.CA()
    cert, key = write_leaf(
        ca.issue_cert("127.0.0.1", "127.0.0.2"), directory / "h.crt", directory / "h.key"
    )
    ca_file = directory / "hostile-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return HostileTLS(ca_file, ctx)
