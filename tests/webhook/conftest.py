"""Webhook fixtures: AdmissionReview builders, real TLS material (trustme), a server on
loopback built from the same app factory as production, and a leaked-task check."""

from __future__ import annotations

import copy
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import trustme
from aiohttp import web

from ddcompat.webhook import app as app_mod
from tests.tools import start_site, write_leaf

PYTHON_APP = {
    "name": "web",
    "image": "python:3.11-slim",
    "env": [
        {"name": "DD_APPSEC_ENABLED", "value": "true"},
        {"name": "DD_REMOTE_CONFIGURATION_ENABLED", "value": "true"},
    ],
}


def pod(
    ddtrace: str = "1.20.0",
    *,
    annotations: dict[str, str] | None = None,
    containers: list[dict[str, Any]] | None = None,
    name: str = "api-7d9f",
) -> dict[str, Any]:
    ann = {"ddcompat.io/ddtrace-version": ddtrace}
    ann.update(annotations or {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "annotations": ann},
        "spec": {"containers": containers or [copy.deepcopy(PYTHON_APP)]},
    }


def review(
    obj: dict[str, Any] | None,
    *,
    operation: str = "CREATE",
    kind: str = "Pod",
    dry_run: bool = False,
    uid: str | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid or str(uuid.uuid4()),
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "shop",
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": obj,
            "oldObject": None,
            "dryRun": dry_run,
        },
    }


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def cert_files(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    return write_leaf(leaf, tmp_path / "tls.crt", tmp_path / "tls.key")


@pytest.fixture
def client_ssl(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


Server = Callable[..., Any]


@pytest_asyncio.fixture
async def tls_server(cert_files: tuple[Path, Path]) -> AsyncIterator[Server]:
    """Start the real app with real TLS on 127.0.0.1; yields a starter returning the URL."""
    runners: list[web.AppRunner] = []

    async def start(**overrides: Any) -> tuple[str, web.Application]:
        cert, key = cert_files
        config = app_mod.Config(cert=cert, key=key, host="127.0.0.1", port=0, **overrides)
        app = app_mod.create_app(config)
        reloader = app[app_mod.STATE].reloader
        assert reloader is not None
        port = await start_site(
            app,
            runners,
            # the production site: TLS handshake and request head bounded by the read timeout
            lambda runner: app_mod.TLSSite(
                runner, "127.0.0.1", 0, ssl_context=reloader.context, timeout=config.read_timeout
            ),
        )
        return f"https://127.0.0.1:{port}", app

    yield start
    for runner in runners:
        await runner.cleanup()
