"""A real OCI registry on loopback for the image inspector: Debian's `docker-registry`
(distribution 2.8) with TLS and htpasswd auth, started here, and images built by the tests
as OCI layouts and pushed with Debian's `skopeo`."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import ssl
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import trustme

from tests.tools import free_port, write_leaf

USER, PASSWORD = "ci", "s3cret-pass"


@dataclass
class Registry:
    host: str  # 127.0.0.1:port
    ca_file: Path
    cert_dir: Path  # for skopeo (ca.crt)
    log: Path
    proc: subprocess.Popen[bytes]

    def push(self, layout: Path, name: str, *, all_platforms: bool = False) -> str:
        """skopeo copy an OCI layout in; returns the image reference."""
        ref = f"{self.host}/{name}"
        cmd = [
            "skopeo",
            "copy",
            "--quiet",
            "--dest-creds",
            f"{USER}:{PASSWORD}",
            "--dest-cert-dir",
            str(self.cert_dir),
        ]
        if all_platforms:
            cmd.append("--all")
        subprocess.run(
            [*cmd, f"oci:{layout}:latest", f"docker://{ref}"], check=True, capture_output=True
        )
        return ref

    def requests_logged(self) -> int:
        """Requests to the /v2/ API the registry's access log has seen so far."""
        text = self.log.read_text(errors="replace")
        return sum(1 for line in text.splitlines() if '"GET /v2/' in line or '"HEAD /v2/' in line)


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed: `make test` installs it (Debian package)")


def _tls(d: Path) -> tuple[trustme.CA, Path, Path, Path, Path]:
    """A CA and a serving pair for 127.0.0.1 in ``d``: (ca, cert, key, ca_file, cert_dir),
    cert_dir holding ca.crt as skopeo's --cert-dir wants it."""
    ca = trustme.CA()
    cert, key = write_leaf(ca.issue_cert("127.0.0.1"), d / "tls.crt", d / "tls.key")
    ca_file = d / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert_dir = d / "certs"
    cert_dir.mkdir()
    shutil.copy(ca_file, cert_dir / "ca.crt")
    return ca, cert, key, ca_file, cert_dir


def _serve_registry(
    d: Path, cert: Path, key: Path, auth: dict[str, Any]
) -> tuple[int, subprocess.Popen[bytes], Path]:
    """docker-registry over TLS on a free port with ``auth``, storing under ``d``, its log in
    ``d/registry.log``; returns when it accepts connections (fails if it exits)."""
    import socket

    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(d / "data")}},
        "http": {"addr": f"127.0.0.1:{port}", "tls": {"certificate": str(cert), "key": str(key)}},
        "auth": auth,
    }
    (d / "config.yml").write_text(json.dumps(config))  # (JSON is YAML)
    log = d / "registry.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["docker-registry", "serve", str(d / "config.yml")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"docker-registry exited: {log.read_text()[-2000:]}")
            time.sleep(0.05)
    return port, proc, log


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    _need("docker-registry")
    _need("skopeo")
    d = tmp_path_factory.mktemp("registry")
    _, cert, key, ca_file, cert_dir = _tls(d)
    (d / "htpasswd").write_bytes(
        USER.encode() + b":" + bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)) + b"\n"
    )
    auth = {"htpasswd": {"realm": "ddcompat-test", "path": str(d / "htpasswd")}}
    port, proc, log = _serve_registry(d, cert, key, auth)
    yield Registry(f"127.0.0.1:{port}", ca_file, cert_dir, log, proc)
    proc.terminate()
    proc.wait(10)


# --- OCI layouts ----------------------------------------------------------------------


@dataclass
class Layer:
    files: dict[str, bytes] = field(default_factory=dict)  # path -> content ("" dirs)
    compression: str = "gzip"  # gzip | zstd | none

    def tar(self) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for path, content in self.files.items():
                info = tarfile.TarInfo(path)
                if path.endswith("/"):
                    info.type, info.name = tarfile.DIRTYPE, path.rstrip("/")
                    tar.addfile(info)
                    continue
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
        return buf.getvalue()

    def blob(self) -> tuple[bytes, str, str]:
        """(blob, media type, diff_id)."""
        raw = self.tar()
        diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
        if self.compression == "gzip":
            return (
                gzip.compress(raw, mtime=0),
                "application/vnd.oci.image.layer.v1.tar+gzip",
                diff_id,
            )
        if self.compression == "zstd":
            import zstandard

            return (
                zstandard.ZstdCompressor().compress(raw),
                "application/vnd.oci.image.layer.v1.tar+zstd",
                diff_id,
            )
        return raw, "application/vnd.oci.image.layer.v1.tar", diff_id


def _put(blobs: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)


def _image(
    blobs: Path, layers: list[Layer], env: list[str], arch: str, history: list[str] | None = None
) -> dict[str, Any]:
    descs, diff_ids = [], []
    for layer in layers:
        data, media, diff_id = layer.blob()
        digest, size = _put(blobs, data)
        descs.append({"mediaType": media, "digest": digest, "size": size})
        diff_ids.append(diff_id)
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Env": env},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": h} for h in history or []],
    }
    cdigest, csize = _put(blobs, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": cdigest,
            "size": csize,
        },
        "layers": descs,
    }
    mdigest, msize = _put(blobs, json.dumps(manifest).encode())
    return {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": mdigest,
        "size": msize,
        "platform": {"os": "linux", "architecture": arch},
    }


def layout(
    path: Path,
    images: list[tuple[list[Layer], list[str], str]],
    *,
    index: bool = False,
    history: list[str] | None = None,
) -> Path:
    """An OCI image layout at ``path`` tagged ``latest``: one image, or an index of them
    (``index``) for several platforms."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    manifests = [_image(blobs, lay, env, arch, history) for lay, env, arch in images]
    if index:
        inner = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        }
        digest, size = _put(blobs, json.dumps(inner).encode())
        top = [
            {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": digest,
                "size": size,
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ]
    else:
        m = dict(manifests[0])
        m.pop("platform")
        m["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
        top = [m]
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": top}))
    return path


SITE = "usr/local/lib/python3.12/site-packages/"


def dist_info(name: str, version: str) -> dict[str, bytes]:
    d = f"{SITE}{name}-{version}.dist-info/"
    return {d: b"", d + "METADATA": f"Name: {name}\nVersion: {version}\n".encode()}


# --- a registry with token auth (the bearer challenge of Docker Hub, ECR, GHCR...) -------

ISSUER, SERVICE = "ddcompat-test-issuer", "ddcompat-test-registry"


def _b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A token service as distribution's token auth expects it: GET ?service=&scope= with
    basic credentials gives a JWT (ES256, the signing certificate in ``x5c``) granting the
    scope's actions, or 401 for wrong credentials."""

    def __init__(self, ca: trustme.CA) -> None:
        import base64

        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        leaf = ca.issue_cert("token-signer")
        key = load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)  # (trustme's default: P-256)
        self.key = key
        cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
        self.x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
        self.issued = 0

    def token(self, user: str, scope: str) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        now = int(time.time())
        access = []
        if scope:
            kind, name, actions = scope.split(":", 2)
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        header = {"typ": "JWT", "alg": "ES256", "x5c": self.x5c}
        claims = {
            "iss": ISSUER,
            "sub": user,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": str(now) + str(self.issued),
            "access": access,
        }
        signing = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        der = self.key.sign(signing.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        self.issued += 1
        return signing + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """docker-registry with token auth; the token service runs in a thread here."""
    import base64
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    _need("docker-registry")
    _need("skopeo")
    d = tmp_path_factory.mktemp("token-registry")
    ca, cert, key, ca_file, cert_dir = _tls(d)
    tokens = TokenServer(ca)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            auth = self.headers.get("Authorization", "")
            user = None
            if auth.startswith("Basic "):
                u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                user = u if (u, p) == (USER, PASSWORD) else None
            if user is None:
                self.send_response(401)
                self.end_headers()
                return
            body = json.dumps({"token": tokens.token(user, (query.get("scope") or [""])[0])})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # the token service over HTTPS, as every public one is (credentials never go to a
    # plain-HTTP realm from an HTTPS registry)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    realm = f"https://127.0.0.1:{server.server_address[1]}/token"
    auth = {
        "token": {
            "realm": realm,
            "service": SERVICE,
            "issuer": ISSUER,
            "rootcertbundle": str(ca_file),
        }
    }
    port, proc, log = _serve_registry(d, cert, key, auth)
    reg = Registry(f"127.0.0.1:{port}", ca_file, cert_dir, log, proc)
    reg.tokens_issued = lambda: tokens.issued  # type: ignore[attr-defined]
    yield reg
    proc.terminate()
    proc.wait(10)
    server.shutdown()


# --- a hostile registry (tests/images/hostile.py) --------------------------------------


@pytest.fixture(scope="session")
def hostile_certs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.images import hostile as hostile_mod

    return hostile_mod.hostile_tls(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def hostile(hostile_certs: Any) -> Iterator[Any]:
    """A scripted registry on 127.0.0.1 over TLS (see tests/images/hostile.py)."""
    from tests.images import hostile as hostile_mod

    reg = hostile_mod.start("127.0.0.1", hostile_certs.context)
    yield reg
    reg.close()


@pytest.fixture
def elsewhere(hostile_certs: Any) -> Iterator[Any]:
    """Another site on 127.0.0.2: ``elsewhere(tls=True)`` starts one (blob storage, a token
    service, an attacker's collector)."""
    from tests.images import hostile as hostile_mod

    started: list[Any] = []

    def make(tls: bool = True) -> Any:
        reg = hostile_mod.start("127.0.0.2", hostile_certs.context if tls else None)
        started.append(reg)
        return reg

    yield make
    for reg in started:
        reg.close()
