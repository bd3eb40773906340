"""Paginated, raw-JSON LIST calls against the Kubernetes API.

Built for 100k+ pods: each page (``limit``/``continue``) is read, decoded and handed to a
callback that keeps only what it needs, so no more than one page is held at a time and
nothing is deserialised into the ``kubernetes`` client's model objects (that package is
used only to load in-cluster or kubeconfig credentials).

Failures: an expired ``continue`` token (410 Gone) restarts the listing from the start
(the callback is told, to drop what it gathered); 429, 5xx and connection errors are
retried with exponential backoff and jitter (``Retry-After`` honoured); 403 raises
:class:`Forbidden`, which the caller turns into a degraded facet, not a failed scan.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import hashlib
import logging
import random
import ssl
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

log = logging.getLogger("ddcompat.sources.kubernetes")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ListError(Exception):
    """A LIST that could not complete; ``reason`` is a bounded label value."""

    def __init__(self, resource: str, reason: str, message: str) -> None:
        super().__init__(f"{resource}: {message}")
        self.resource = resource
        self.reason = reason


class Forbidden(ListError):
    def __init__(self, resource: str, message: str) -> None:
        super().__init__(resource, "forbidden", message)


@dataclasses.dataclass
class Endpoint:
    """Where the API server is and how to authenticate to it."""

    host: str
    ssl: ssl.SSLContext | bool = True
    token: Callable[[], str | None] = lambda: None

    def headers(self) -> dict[str, str]:
        h = {"Accept": "application/json"}
        tok = self.token()
        if tok:
            h["Authorization"] = tok if tok.lower().startswith("bearer ") else f"Bearer {tok}"
        return h


def load_endpoint(
    kubeconfig: str | None = None, context: str | None = None, in_cluster: bool | None = None
) -> Endpoint:
    """Credentials from the in-cluster service account or a kubeconfig file."""
    from kubernetes import client, config  # credentials only

    cfg = client.Configuration()
    if in_cluster or (in_cluster is None and kubeconfig is None and _in_cluster_available()):
        config.load_incluster_config(client_configuration=cfg)
    else:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
    ctx: ssl.SSLContext | bool
    if cfg.verify_ssl:
        ctx = (
            ssl.create_default_context(cafile=cfg.ssl_ca_cert)
            if cfg.ssl_ca_cert
            else ssl.create_default_context()
        )
    else:
        ctx = False
    if cfg.cert_file and isinstance(ctx, ssl.SSLContext):
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)

    def token() -> str | None:
        # the client's own header logic (it re-reads rotated service-account tokens)
        bearer = cfg.auth_settings().get("BearerToken")
        value = bearer.get("value") if bearer else None
        return str(value) if value else None

    return Endpoint(host=cfg.host.rstrip("/"), ssl=ctx, token=token)


def _in_cluster_available() -> bool:
    import os

    return "KUBERNETES_SERVICE_HOST" in os.environ


@dataclasses.dataclass
class Retry:
    attempts: int = 6
    base: float = 0.2
    cap: float = 10.0
    restarts: int = 3

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after:
            try:
                return min(self.cap, max(0.0, float(retry_after)))
            except ValueError:
                pass
        # full jitter
        return random.uniform(0, min(self.cap, self.base * (2**attempt)))


Page = list[dict[str, Any]]


async def list_all(
    session: aiohttp.ClientSession,
    endpoint: Endpoint,
    path: str,
    *,
    on_page: Callable[[Page], None],
    on_restart: Callable[[], None] = lambda: None,
    page_size: int = 500,
    retry: Retry | None = None,
    params: dict[str, str] | None = None,
) -> int:
    """LIST ``path`` page by page (``params``: more query parameters, e.g. a
    labelSelector); returns the number of items delivered."""
    retry = retry or Retry()
    resource = path.rsplit("/", 1)[-1]
    url = endpoint.host + path
    cont: str | None = None
    delivered = 0
    restarts = 0
    while True:
        query = {**(params or {}), "limit": str(page_size)}
        if cont:
            query["continue"] = cont
        page: dict[str, Any] | None = None
        for attempt in range(retry.attempts):
            try:
                async with session.get(
                    url, params=query, headers=endpoint.headers(), ssl=endpoint.ssl
                ) as resp:
                    if resp.status == 200:
                        page = orjson.loads(await resp.read())
                        break
                    body = (await resp.text())[:300]
                    if resp.status == 410:
                        break
                    if resp.status == 403:
                        raise Forbidden(resource, f"403 Forbidden: {body}")
                    if resp.status in RETRY_STATUSES:
                        wait = retry.delay(attempt, resp.headers.get("Retry-After"))
                        log.info("%s: %s, retrying in %.2fs", resource, resp.status, wait)
                        await asyncio.sleep(wait)
                        continue
                    raise ListError(resource, f"http_{resp.status}", f"HTTP {resp.status}: {body}")
            except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
                wait = retry.delay(attempt)
                log.info("%s: %r, retrying in %.2fs", resource, exc, wait)
                await asyncio.sleep(wait)
                continue
        else:
            raise ListError(
                resource, "retries_exhausted", f"gave up after {retry.attempts} attempts"
            )
        if page is None:  # 410 Gone: the continue token expired; list again from the start
            restarts += 1
            if restarts > retry.restarts:
                raise ListError(resource, "expired", "continue token expired too often")
            log.info("%s: continue token expired (410); restarting the list", resource)
            on_restart()
            delivered = 0
            cont = None
            continue
        items = page.get("items") or []
        on_page(items)
        delivered += len(items)
        cont = (page.get("metadata") or {}).get("continue") or None
        if not cont:
            return delivered
        await asyncio.sleep(0)  # let /metrics scrapes through between pages


async def get_json(
    session: aiohttp.ClientSession, endpoint: Endpoint, path: str
) -> dict[str, Any] | None:
    """GET one object; None when it is missing, forbidden or unreadable (the callers
    degrade: a secret that cannot be read gives no credentials)."""
    try:
        async with session.get(
            endpoint.host + path, headers=endpoint.headers(), ssl=endpoint.ssl
        ) as resp:
            if resp.status != 200:
                return None
            data = orjson.loads(await resp.read())
            return data if isinstance(data, dict) else None
    except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError):
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class EventTarget:
    """The object an Event is about (``involvedObject``)."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str | None = None


async def record_event(
    session: aiohttp.ClientSession,
    endpoint: Endpoint,
    target: EventTarget,
    *,
    reason: str,
    message: str,
    component: str,
    timeout: float = 10.0,
) -> bool:
    """One aggregated Warning Event per object, reason and component: the first call
    creates it, later ones bump its ``count`` and ``lastTimestamp`` and replace the message
    (as the kubelet's event correlator does). False (and a log line) when the API refused."""
    key = f"{component}/{reason}/{target.namespace}/{target.kind}/{target.name}"
    ev_name = f"{target.name[:200]}.{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    message = message if len(message) <= 1024 else message[:1023] + "\u2026"
    base = f"{endpoint.host}/api/v1/namespaces/{target.namespace}/events"
    headers = endpoint.headers()
    limit = aiohttp.ClientTimeout(total=timeout)
    async with session.get(
        f"{base}/{ev_name}", headers=headers, ssl=endpoint.ssl, timeout=limit
    ) as r:
        existing = orjson.loads(await r.read()) if r.status == 200 else None
    if isinstance(existing, dict):
        patch = {
            "count": int(existing.get("count") or 1) + 1,
            "lastTimestamp": stamp,
            "message": message,
        }
        request = session.patch(
            f"{base}/{ev_name}",
            data=orjson.dumps(patch),
            headers={**headers, "Content-Type": "application/merge-patch+json"},
            ssl=endpoint.ssl,
            timeout=limit,
        )
    else:
        involved: dict[str, str] = {
            "apiVersion": target.api_version,
            "kind": target.kind,
            "name": target.name,
            "namespace": target.namespace,
        }
        if target.uid:
            involved["uid"] = target.uid
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": ev_name, "namespace": target.namespace},
            "involvedObject": involved,
            "reason": reason,
            "type": "Warning",
            "message": message,
            "source": {"component": component},
            "reportingComponent": component,
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
        }
        request = session.post(
            base,
            data=orjson.dumps(event),
            headers={**headers, "Content-Type": "application/json"},
            ssl=endpoint.ssl,
            timeout=limit,
        )
    async with request as r:
        if r.status >= 300:
            body = (await r.read())[:300].decode("utf-8", "replace")
            log.warning(
                "event on %s %s/%s not written: HTTP %s %s",
                target.kind,
                target.namespace,
                target.name,
                r.status,
                body,
            )
        return r.status < 300
