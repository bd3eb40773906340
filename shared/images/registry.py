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
import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import urllib3

from ddcompat.shared.images import reference

Reason = Literal[
    "unreachable", "unauthorized", "not_found", "rate_limited", "bad_manifest", "error"
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
MAX_RETRY_AFTER = 10.0
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(Exception):
    """A registry that could not answer; ``reason`` is a fixed metric label value."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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


class Client:
    """Talks to registries; one per front end (its token cache and connection pool)."""

    def __init__(
        self,
        *,
        credentials: Mapping[str, tuple[str, str]] | None = None,
        insecure: frozenset[str] = frozenset(),
        ca_file: str | None = None,
        timeout: float = 30.0,
        user_agent: str = "ddcompat",
    ) -> None:
        self.credentials = dict(credentials or {})
        self.insecure = insecure
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

    def _url(self, host: str, path: str) -> str:
        scheme = "http" if host in self.insecure else "https"
        return f"{scheme}://{host}{path}"

    def request(
        self,
        method: str,
        ref: reference.Reference,
        path: str,
        *,
        accept: str | None = None,
        stream: bool = False,
    ) -> Any:
        """A response (body preloaded unless ``stream``); RegistryError for anything but
        a 2xx after auth and at most a few rate-limit waits."""
        host = ref.api_host
        scope = f"repository:{ref.repository}:pull"
        headers = {"User-Agent": self.user_agent}
        if accept:
            headers["Accept"] = accept
        for attempt in range(4):
            token = self._tokens.get((host, scope))
            if token:
                headers["Authorization"] = token
            try:
                self.requests += 1
                resp = self.pool.request(
                    method,
                    self._url(host, path),
                    headers=headers,
                    preload_content=not stream,
                    redirect=True,
                )
            except urllib3.exceptions.HTTPError as exc:
                raise RegistryError("unreachable", f"{host}: {type(exc).__name__}") from None
            if resp.status == 401 and attempt == 0:
                resp.drain_conn()
                self._authenticate(host, scope, resp.headers.get("WWW-Authenticate", ""))
                continue
            if resp.status == 429 and attempt < 3:
                wait = _retry_after(resp.headers.get("Retry-After"))
                resp.drain_conn()
                time.sleep(wait)
                continue
            if 200 <= resp.status < 300:
                return resp
            resp.drain_conn()
            raise _status_error(host, path, resp.status)
        raise RegistryError("rate_limited", f"{host}: still rate-limited after retries")

    def _authenticate(self, host: str, scope: str, challenge: str) -> None:
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
        params = dict(_CHALLENGE.findall(challenge))
        realm = params.get("realm")
        if not realm:
            raise RegistryError("unauthorized", f"{host}: bearer challenge without a realm")
        fields = {"service": params.get("service", ""), "scope": params.get("scope", scope)}
        headers = {"User-Agent": self.user_agent}
        if creds is not None:
            headers["Authorization"] = _basic(creds)
        try:
            self.requests += 1
            resp = self.pool.request("GET", realm, fields=fields, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise RegistryError("unreachable", f"{realm}: {type(exc).__name__}") from None
        if resp.status != 200:
            raise RegistryError("unauthorized", f"{host}: token service answered {resp.status}")
        try:
            data = json.loads(resp.data[:MAX_MANIFEST])
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError("unauthorized", f"{host}: token service gave no token")
        self._tokens[(host, scope)] = f"Bearer {token}"

    # -- the API --------------------------------------------------------------------

    def top(self, ref: reference.Reference) -> tuple[str, dict[str, Any], str]:
        """(digest, body, media type) of what the reference names (a manifest or an
        index), by one GET."""
        return self._get_manifest(ref, ref.ref)

    def manifest(
        self,
        ref: reference.Reference,
        os: str = "linux",
        arch: str = "amd64",
        top: tuple[str, dict[str, Any], str] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """(digest, manifest) of the image for ``os``/``arch`` (an index is resolved);
        ``top``: what :meth:`top` already fetched."""
        digest, data, media = top or self._get_manifest(ref, ref.ref)
        if media in INDEX_TYPES or "manifests" in data:
            chosen = _pick(data.get("manifests"), os, arch)
            if chosen is None:
                raise RegistryError("not_found", f"{ref}: no manifest for {os}/{arch}")
            digest, data, media = self._get_manifest(ref, chosen)
        if media not in MANIFEST_TYPES and "layers" not in data:
            raise RegistryError("bad_manifest", f"{ref}: unsupported manifest type {media}")
        return digest, data

    def _get_manifest(
        self, ref: reference.Reference, which: str
    ) -> tuple[str, dict[str, Any], str]:
        resp = self.request("GET", ref, f"/v2/{ref.repository}/manifests/{which}", accept=ACCEPT)
        body = resp.data
        if len(body) > MAX_MANIFEST:
            raise RegistryError("bad_manifest", f"{ref}: manifest too large")
        try:
            data = json.loads(body)
        except ValueError:
            raise RegistryError("bad_manifest", f"{ref}: manifest is not JSON") from None
        if not isinstance(data, dict):
            raise RegistryError("bad_manifest", f"{ref}: manifest is not an object")
        media = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
        media = data.get("mediaType") or media
        digest = resp.headers.get("Docker-Content-Digest") or (
            which if which.startswith("sha256:") else ""
        )
        return digest, data, media

    def blob(self, ref: reference.Reference, digest: str) -> Any:
        """A streamed blob response (``read(n)``; the caller closes it)."""
        return self.request("GET", ref, f"/v2/{ref.repository}/blobs/{digest}", stream=True)

    def blob_json(self, ref: reference.Reference, digest: str, limit: int = MAX_MANIFEST) -> Any:
        resp = self.blob(ref, digest)
        try:
            body = resp.read(limit + 1)
        finally:
            resp.release_conn()
        if len(body) > limit:
            raise RegistryError("bad_manifest", f"{ref}: config blob too large")
        try:
            return json.loads(body)
        except ValueError:
            raise RegistryError("bad_manifest", f"{ref}: config is not JSON") from None


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
    try:
        return min(max(float(value or 1), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return 1.0


def _status_error(host: str, path: str, status: int) -> RegistryError:
    if status in (401, 403):
        return RegistryError("unauthorized", f"{host}: {status} for {path}")
    if status == 404:
        return RegistryError("not_found", f"{host}: {path} not found")
    if status == 429:
        return RegistryError("rate_limited", f"{host}: rate-limited")
    return RegistryError("error", f"{host}: {status} for {path}")
