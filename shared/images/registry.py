"""A client of the OCI distribution API, enough to read an image: auth as registries do
it (anonymous, the bearer-token challenge of ``WWW-Authenticate``, basic), manifests and
indexes (the manifest of the platform a workload runs on), and blobs streamed.

Why not a registry library: the ones on PyPI download a blob to a file or into memory
whole (oras-py pulls into a folder; dxf hands out whole chunks without a byte budget), while
the inspector must decompress layers as they arrive and stop after the few files it needs,
with a cap on bytes read per image. This client is that and no more, on urllib3 (TLS,
pooling, a custom CA), which the Kubernetes client already brings.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode, urljoin

import msgspec
import urllib3

from ddcompat.shared.images import reference

Reason = Literal[
    "unreachable",
    "unauthorized",
    "not_found",
    "rate_limited",
    "bad_manifest",
    "corrupt",
    "timeout",
    "error",
]

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
ACCEPT = ", ".join((*INDEX_TYPES, *MANIFEST_TYPES))
MAX_MANIFEST = 4 << 20
MAX_TOKEN = 1 << 20  # a token service's answer (JWTs are a few KB)
MAX_RETRY_AFTER = 10.0
MAX_REDIRECTS = 5
CHUNK = 1 << 16  # one read of a body: each waits at most the read timeout
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class RegistryError(Exception):
    """A registry that could not answer; ``reason`` is a fixed metric label value."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Deadline:
    """When the work on one image (or one run) must end, and whether the front end is
    stopping: checked before every request and between the reads of every body, so a
    registry that answers a byte at a time, or never, costs at most the deadline."""

    __slots__ = ("at", "stop")

    def __init__(
        self,
        seconds: float,
        *,
        stop: threading.Event | None = None,
        within: Deadline | None = None,
    ) -> None:
        self.at = time.monotonic() + seconds
        if within is not None:
            self.at = min(self.at, within.at)
        self.stop: threading.Event | None = (
            stop if stop is not None else (within.stop if within is not None else None)
        )

    def left(self, what: str = "") -> float:
        """Seconds left; RegistryError ``timeout`` when none are, or when stopping."""
        if self.stop is not None and self.stop.is_set():
            raise RegistryError("timeout", f"{what}: stopped (shutting down)")
        left = self.at - time.monotonic()
        if left <= 0:
            raise RegistryError("timeout", f"{what}: the inspection's deadline passed")
        return left


NO_DEADLINE = Deadline(float("inf"))


def valid_digest(digest: Any, what: str) -> str:
    """``digest`` when it is a sha256 digest (algorithm and hex): nothing else ever names a
    request or a file; RegistryError ``bad_manifest`` otherwise."""
    if isinstance(digest, str) and DIGEST.fullmatch(digest):
        return digest
    raise RegistryError("bad_manifest", f"{what}: not a sha256 digest: {str(digest)[:80]!r}")


def read_capped(resp: Any, limit: int, deadline: Deadline, what: str) -> bytes:
    """A whole body of at most ``limit`` bytes, read a chunk at a time (never more than the
    limit in memory, however long or endless the body); RegistryError past the limit."""
    parts: list[bytes] = []
    size = 0
    try:
        while True:
            chunk = read_chunk(resp, CHUNK, deadline, what)
            if not chunk:
                resp.release_conn()  # (read to its end: the connection can be reused)
                return b"".join(parts)
            size += len(chunk)
            if size > limit:
                raise RegistryError("bad_manifest", f"{what}: larger than {limit} bytes")
            parts.append(chunk)
    except BaseException:
        abandon(resp)
        raise


def read_chunk(resp: Any, n: int, deadline: Deadline, what: str) -> bytes:
    """What has arrived of a body, at most ``n`` bytes, after checking the deadline: one
    socket read, so it waits at most the read timeout however slowly the body comes."""
    deadline.left(what)
    try:
        data: bytes = resp.read1(n, decode_content=False)
    except urllib3.exceptions.HTTPError as exc:
        raise RegistryError("unreachable", f"{what}: {type(exc).__name__}") from None
    return data


def abandon(resp: Any) -> None:
    """Close a response whose body was not read to its end: its connection is never
    reused (what is left of the body would be read as the next answer), and the server
    sees the client leave."""
    try:
        resp.close()
    finally:
        conn = getattr(resp, "connection", None)
        if conn is not None:
            conn.close()


def decode_json(body: bytes, what: str) -> Any:
    """JSON of any shape, or RegistryError ``bad_manifest`` (never a traceback: too deep,
    not UTF-8, not JSON)."""
    try:
        return msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError, ValueError):
        raise RegistryError("bad_manifest", f"{what}: not JSON (or nested too deep)") from None


class Verified:
    """A blob's body as it streams: each read is one :func:`read_chunk` and the bytes are
    hashed; once the body is read to its end, :meth:`matches` compares the hash with the
    digest the blob was asked for."""

    def __init__(self, resp: Any, digest: str, deadline: Deadline, what: str) -> None:
        self.resp, self.digest, self.deadline, self.what = resp, digest, deadline, what
        self.hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = read_chunk(self.resp, n if n and n > 0 else CHUNK, self.deadline, self.what)
        self.hash.update(data)
        return data

    def readable(self) -> bool:
        return True

    def matches(self) -> bool:
        return "sha256:" + self.hash.hexdigest() == self.digest


def docker_config_credentials(path: str | Path) -> dict[str, tuple[str, str]]:
    """``auths`` of a Docker config file (``~/.docker/config.json``) as host -> (user,
    password). ``credHelpers``/``credsStore`` are not run (out of scope: give the
    credentials in a file)."""
    return auths_credentials(json.loads(Path(path).read_text(encoding="utf-8")))


def auths_credentials(data: Any) -> dict[str, tuple[str, str]]:
    """host -> (user, password) of a parsed Docker config (``{"auths": ...}``), as
    a ``kubernetes.io/dockerconfigjson`` pull secret holds it."""
    out: dict[str, tuple[str, str]] = {}
    auths = data.get("auths") if isinstance(data, dict) else None
    for key, entry in (auths or {}).items():
        if not isinstance(entry, Mapping):
            continue
        user, password = entry.get("username"), entry.get("password")
        if isinstance(entry.get("auth"), str) and entry["auth"]:
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
        if isinstance(user, str) and isinstance(password, str):
            out[_host_of(str(key))] = (user, password)
    return out


def _host_of(key: str) -> str:
    host = re.sub(r"^https?://", "", key).split("/", 1)[0]
    return reference.DOCKER_HUB if host in ("index.docker.io", "registry-1.docker.io") else host


def _hostname(netloc: str) -> str:
    """The host name of ``host[:port]`` (``[::1]:5000`` too), lower case."""
    return (urllib3.util.parse_url(f"//{netloc}").host or "").lower().strip("[]")


def credentials_may_go(registry_host: str, registry_scheme: str, url: str) -> bool:
    """Whether the credentials of ``registry_host`` may be sent to ``url`` (a token realm):
    over HTTPS (plain HTTP only when the registry itself is plain HTTP, and then to the same
    host), to the registry's own host name, or to a host of its parent domain (Docker Hub's
    registry-1.docker.io and auth.docker.io; GitLab's registry.gitlab.com and gitlab.com).
    Never to another site, and never in clear text from an HTTPS registry."""
    parsed = urllib3.util.parse_url(url)
    host = (parsed.host or "").lower().strip("[]")
    own = _hostname(registry_host)
    if not host:
        return False
    if parsed.scheme != "https":
        return parsed.scheme == "http" and registry_scheme == "http" and host == own
    if host == own:
        return True
    labels = own.split(".")
    if len(labels) < 3 or own.replace(".", "").isdigit() or ":" in own:
        return False  # (an IP address, or a name with no parent domain of its own)
    parent = ".".join(labels[1:])
    return host == parent or host.endswith("." + parent)


class Client:
    """Talks to registries; one per front end (its token cache and connection pool).

    Trust: a manifest or blob is believed only when its bytes hash to the digest it was
    asked for (manifests by tag: the digest is the one computed, never a header's word);
    the registry's credentials go only where :func:`credentials_may_go` allows; redirects
    (blob storage, as Docker Hub and ECR answer) are followed by hand, and to another
    origin without the registry's Authorization header.
    """

    def __init__(
        self,
        *,
        credentials: Mapping[str, tuple[str, str]] | None = None,
        insecure: frozenset[str] = frozenset(),
        ca_file: str | None = None,
        timeout: float = 10.0,
        user_agent: str = "ddcompat",
    ) -> None:
        self.credentials = dict(credentials or {})
        self.insecure = insecure
        self.timeout = timeout  # per connect and per read (each chunk of a body)
        self.pool = urllib3.PoolManager(
            ca_certs=ca_file,
            retries=False,
            timeout=urllib3.Timeout(connect=min(timeout, 10.0), read=timeout),
            maxsize=4,
        )
        self.user_agent = user_agent
        self._tokens: dict[tuple[str, str], str] = {}
        self.requests = 0  # (counted: tests and the benchmark read it)

    # -- HTTP with the registry's auth ----------------------------------------------

    def _scheme(self, host: str) -> str:
        return "http" if host in self.insecure else "https"

    def _url(self, host: str, path: str) -> str:
        return f"{self._scheme(host)}://{host}{path}"

    def _timeout(self, deadline: Deadline, what: str) -> urllib3.Timeout:
        left = deadline.left(what)
        return urllib3.Timeout(connect=min(self.timeout, 10.0, left), read=min(self.timeout, left))

    def _send(
        self, method: str, url: str, headers: dict[str, str], deadline: Deadline, what: str
    ) -> Any:
        """One request, its redirects followed by hand: the Authorization header only to
        the origin it was meant for, and never from HTTPS down to plain HTTP."""
        origin = urllib3.util.parse_url(url)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                self.requests += 1
                resp = self.pool.request(
                    method,
                    url,
                    headers=headers,
                    preload_content=False,
                    decode_content=False,
                    redirect=False,
                    timeout=self._timeout(deadline, what),
                )
            except urllib3.exceptions.HTTPError as exc:
                host = urllib3.util.parse_url(url).host
                raise RegistryError("unreachable", f"{host}: {type(exc).__name__}") from None
            location = resp.headers.get("Location")
            if resp.status not in (301, 302, 303, 307, 308) or not location:
                return resp
            abandon(resp)  # (a body of any length is never read)
            target = urllib3.util.parse_url(urljoin(url, location))
            if target.scheme not in ("http", "https") or (
                origin.scheme == "https" and target.scheme != "https"
            ):
                raise RegistryError("error", f"{what}: refused redirect to {target.scheme}")
            if (target.scheme, target.host, target.port) != (
                origin.scheme,
                origin.host,
                origin.port,
            ):
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            url = target.url
            if resp.status == 303:
                method = "GET"
        raise RegistryError("error", f"{what}: more than {MAX_REDIRECTS} redirects")

    def request(
        self,
        method: str,
        ref: reference.Reference,
        path: str,
        *,
        accept: str | None = None,
        deadline: Deadline = NO_DEADLINE,
    ) -> Any:
        """A response whose body is still to be read (the caller reads it, bounded, or
        releases it); RegistryError for anything but a 2xx after auth and at most a few
        rate-limit waits."""
        host = ref.api_host
        scope = f"repository:{ref.repository}:pull"
        headers = {"User-Agent": self.user_agent}
        if accept:
            headers["Accept"] = accept
        for attempt in range(4):
            token = self._tokens.get((host, scope))
            if token:
                headers["Authorization"] = token
            resp = self._send(method, self._url(host, path), headers, deadline, f"{host}{path}")
            if resp.status == 401 and attempt == 0:
                abandon(resp)  # (a body of any length is never read)
                self._authenticate(host, scope, resp.headers.get("WWW-Authenticate", ""), deadline)
                continue
            if resp.status == 429 and attempt < 3:
                wait = min(_retry_after(resp.headers.get("Retry-After")), deadline.left(host))
                abandon(resp)  # (a body of any length is never read)
                time.sleep(wait)
                continue
            if 200 <= resp.status < 300:
                return resp
            abandon(resp)  # (a body of any length is never read)
            raise _status_error(host, path, resp.status)
        raise RegistryError("rate_limited", f"{host}: still rate-limited after retries")

    def _authenticate(self, host: str, scope: str, challenge: str, deadline: Deadline) -> None:
        kind = challenge.split(" ", 1)[0].lower()
        creds = self.credentials.get(host) or (
            self.credentials.get(reference.DOCKER_HUB) if host == reference.DOCKER_HUB_API else None
        )
        if kind == "basic":
            if creds is None:
                raise RegistryError("unauthorized", f"{host}: needs credentials")
            self._tokens[(host, scope)] = _basic(creds)
            return
        if kind != "bearer":
            raise RegistryError("unauthorized", f"{host}: unsupported auth {kind or '(none)'}")
        params = dict(_CHALLENGE.findall(challenge[:8192]))
        realm = params.get("realm")
        if not realm:
            raise RegistryError("unauthorized", f"{host}: bearer challenge without a realm")
        query = urlencode(
            {"service": params.get("service", ""), "scope": params.get("scope", scope)}
        )
        headers = {"User-Agent": self.user_agent}
        withheld = False
        if creds is not None:
            if credentials_may_go(host, self._scheme(host), realm):
                headers["Authorization"] = _basic(creds)
            else:
                withheld = True  # (asked for an anonymous token instead)
        url = realm + ("&" if "?" in realm else "?") + query
        resp = self._send("GET", url, headers, deadline, f"{host} token")
        if resp.status != 200:
            abandon(resp)  # (a body of any length is never read)
            why = (
                f"; credentials withheld from the token service {_origin(realm)} "
                "(another site, or plain HTTP)"
                if withheld
                else ""
            )
            raise RegistryError(
                "unauthorized", f"{host}: token service answered {resp.status}{why}"
            )
        data = decode_json(read_capped(resp, MAX_TOKEN, deadline, f"{host} token"), "token")
        token = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError("unauthorized", f"{host}: token service gave no token")
        self._tokens[(host, scope)] = f"Bearer {token}"

    # -- the API --------------------------------------------------------------------

    def top(
        self, ref: reference.Reference, deadline: Deadline = NO_DEADLINE
    ) -> tuple[str, dict[str, Any], str]:
        """(digest, body, media type) of what the reference names (a manifest or an
        index), by one GET."""
        return self._get_manifest(ref, ref.ref, deadline)

    def manifest(
        self,
        ref: reference.Reference,
        os: str = "linux",
        arch: str = "amd64",
        top: tuple[str, dict[str, Any], str] | None = None,
        deadline: Deadline = NO_DEADLINE,
    ) -> tuple[str, dict[str, Any]]:
        """(digest, manifest) of the image for ``os``/``arch`` (an index is resolved);
        ``top``: what :meth:`top` already fetched."""
        digest, data, media = top or self._get_manifest(ref, ref.ref, deadline)
        if media in INDEX_TYPES or "manifests" in data:
            chosen = _pick(data.get("manifests"), os, arch)
            if chosen is None:
                raise RegistryError("not_found", f"{ref}: no manifest for {os}/{arch}")
            digest, data, media = self._get_manifest(
                ref, valid_digest(chosen, f"{ref} index"), deadline
            )
        if media not in MANIFEST_TYPES and "layers" not in data:
            raise RegistryError("bad_manifest", f"{ref}: unsupported manifest type {media}")
        return digest, data

    def _get_manifest(
        self, ref: reference.Reference, which: str, deadline: Deadline
    ) -> tuple[str, dict[str, Any], str]:
        resp = self.request(
            "GET", ref, f"/v2/{ref.repository}/manifests/{which}", accept=ACCEPT, deadline=deadline
        )
        headers = resp.headers
        body = read_capped(resp, MAX_MANIFEST, deadline, f"{ref} manifest")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        claimed = headers.get("Docker-Content-Digest")
        if which.startswith("sha256:") and digest != which:
            raise RegistryError("corrupt", f"{ref}: the manifest's bytes are not {which}")
        if claimed and claimed != digest:
            raise RegistryError(
                "corrupt",
                f"{ref}: the registry says {claimed[:80]} for a manifest that is {digest}",
            )
        data = decode_json(body, f"{ref} manifest")
        if not isinstance(data, dict):
            raise RegistryError("bad_manifest", f"{ref}: manifest is not an object")
        media = headers.get("Content-Type", "").split(";", 1)[0].strip()
        declared = data.get("mediaType")
        media = declared if isinstance(declared, str) and declared else media
        return digest, data, media

    def blob(self, ref: reference.Reference, digest: str, deadline: Deadline = NO_DEADLINE) -> Any:
        """A blob response whose body is to be read (the caller releases it)."""
        digest = valid_digest(digest, f"{ref} blob")
        return self.request("GET", ref, f"/v2/{ref.repository}/blobs/{digest}", deadline=deadline)

    def blob_json(
        self,
        ref: reference.Reference,
        digest: str,
        limit: int = MAX_MANIFEST,
        deadline: Deadline = NO_DEADLINE,
    ) -> Any:
        """A small JSON blob (an image config), its bytes checked against its digest."""
        resp = self.blob(ref, digest, deadline)
        body = read_capped(resp, limit, deadline, f"{ref} config")
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise RegistryError("corrupt", f"{ref}: the config's bytes are not {digest}")
        return decode_json(body, f"{ref} config")


def _origin(url: str) -> str:
    u = urllib3.util.parse_url(url)
    return f"{u.scheme}://{u.netloc}"


def _pick(manifests: Any, os: str, arch: str) -> str | None:
    if not isinstance(manifests, list):
        return None
    for m in manifests:
        plat = m.get("platform") if isinstance(m, dict) else None
        if isinstance(plat, dict) and plat.get("os") == os and plat.get("architecture") == arch:
            digest = m.get("digest")
            return digest if isinstance(digest, str) else None
    return None


def _basic(creds: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()


def _retry_after(value: str | None) -> float:
    """Seconds to wait, from a ``Retry-After`` in seconds (anything else: one second)."""
    try:
        seconds = float(value or 1)
    except ValueError:
        return 1.0
    if not math.isfinite(seconds):
        return 1.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _status_error(host: str, path: str, status: int) -> RegistryError:
    if status in (401, 403):
        return RegistryError("unauthorized", f"{host}: {status} for {path}")
    if status == 404:
        return RegistryError("not_found", f"{host}: {path} not found")
    if status == 429:
        return RegistryError("rate_limited", f"{host}: rate-limited")
    return RegistryError("error", f"{host}: {status} for {path}")
