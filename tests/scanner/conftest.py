"""Scanner fixtures: a fleet served by the fake API server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio
from aiohttp import web

from ddcompat.scanner import app as app_mod
from ddcompat.scanner import scan as scan_mod
from ddcompat.shared.sources import kubernetes as kube
from tests.scanner.fake_apiserver import FakeAPIServer, Faults, node, owned, pod
from tests.tools import start_site

PROTECTION = {"DD_APPSEC_ENABLED": "true", "DD_REMOTE_CONFIGURATION_ENABLED": "true"}


def fleet(filler: int = 250) -> dict[str, list[dict[str, Any]]]:
    pods = [
        *(
            pod(i, owner=("ReplicaSet", "api-6d4b"), ddtrace="1.9.0", env=PROTECTION)
            for i in range(3)
        ),
        *(pod(10 + i, owner=("ReplicaSet", "web-7f9c"), ddtrace="1.20.0") for i in range(2)),
        pod(20, namespace="batch", owner=("Job", "nightly-28990"), node="node-arm32"),
        pod(21, namespace="data", owner=("StatefulSet", "db-api"), image="python:3.12"),
        pod(22, namespace="data"),  # a bare pod
        *(
            pod(100 + i, namespace="filler", owner=("ReplicaSet", f"f{i % 25}-abc"))
            for i in range(filler)
        ),
    ]
    replicasets = [
        owned("ReplicaSet", "api-6d4b", "shop", ("Deployment", "api")),
        owned("ReplicaSet", "web-7f9c", "shop", ("Deployment", "web")),
        *(owned("ReplicaSet", f"f{i}-abc", "filler", ("Deployment", f"f{i}")) for i in range(25)),
    ]
    jobs = [owned("Job", "nightly-28990", "batch", ("CronJob", "nightly"))]
    nodes = [node("node-a"), node("node-arm32", arch="arm")]
    return {"pods": pods, "replicasets": replicasets, "jobs": jobs, "nodes": nodes}


Start = Callable[..., Any]


@pytest_asyncio.fixture
async def apiserver() -> AsyncIterator[Start]:
    """Start a fake API server; returns (endpoint, server)."""
    runners: list[web.AppRunner] = []

    async def start(
        objects: dict[str, list[dict[str, Any]]] | None = None, faults: Faults | None = None
    ) -> tuple[kube.Endpoint, FakeAPIServer]:
        server = FakeAPIServer(objects if objects is not None else fleet(), faults)
        port = await start_site(server.app, runners)
        return kube.Endpoint(host=f"http://127.0.0.1:{port}", ssl=False), server

    yield start
    for r in runners:
        await r.cleanup()


FAST = kube.Retry(attempts=3, base=0.001, cap=0.01)
Service = Callable[..., Any]


@pytest_asyncio.fixture
async def service(apiserver: Start) -> AsyncIterator[Service]:
    runners: list[web.AppRunner] = []

    async def start(objects: Any = None, **opts: Any) -> tuple[str, web.Application, Any]:
        endpoint, fake = await apiserver(objects)
        options = scan_mod.Options(
            kubernetes=True, endpoint=endpoint, page_size=50, retry=FAST, **opts
        )
        app = app_mod.create_app(app_mod.Config(options=options, interval=3600))
        url = f"http://127.0.0.1:{await start_site(app, runners)}"
        await wait_scans(app, 1)
        return url, app, fake

    yield start
    for r in runners:
        await r.cleanup()


async def wait_scans(app: web.Application, n: int, result: str = "complete") -> None:
    counter = app[app_mod.STATE].metrics.scans.labels(result)
    for _ in range(500):
        if counter._value.get() >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {n} {result} scans")
