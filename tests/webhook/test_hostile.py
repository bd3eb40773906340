"""Hostile input against the webhook over real TLS (issue 14): every answer a 200 with a
judgement or a 4xx, never a 5xx; every label value from a fixed set; every answer counted."""

from __future__ import annotations

import json
import ssl
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ddcompat.webhook import app as app_mod
from tests.webhook.conftest import Server, pod, review

JSON = {"Content-Type": "application/json"}


async def post(
    s: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str] = JSON
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with s.post(url, data=data, headers=headers) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


def session(client_ssl: ssl.SSLContext) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl))


def metric(app: web.Application, name: str, **labels: str) -> float:
    registry = app[app_mod.STATE].metrics.registry
    return registry.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    "annotation",
    [
        {"ddcompat.io/ddtrace-version": "1" * 5000},  # past Python's int-string limit
        {"ddcompat.io/ddtrace-version": "1." + "9" * 4400},
        {"ddcompat.io/ddtrace-version": ">=" + "2" * 4400},
        {"ddcompat.io/python-version": "3." + "1" * 5000},
        {"ddcompat.io/frameworks": "django==" + "3" * 5000},
    ],
    ids=["digits", "dotted", "range", "python", "framework"],
)
async def test_huge_numbers_are_findings_not_500(
    tls_server: Server, client_ssl: ssl.SSLContext, annotation: dict[str, str]
) -> None:
    url, _ = await tls_server()
    async with session(client_ssl) as s:
        status, body = await post(
            s, f"{url}/validate", review(pod("2.21.4", annotations=annotation))
        )
    assert status == 200, body
    # enforce: what cannot be read is not let through
    assert body["response"]["allowed"] is False


async def test_a_crafted_frameworks_value_is_answered_within_the_deadline(
    tls_server: Server, client_ssl: ssl.SSLContext
) -> None:
    url, _ = await tls_server(deadline=0.5, failure_allow=True)
    crafted = "a==" + " " * 200_000 + "x"  # quadratic for a backtracking regex
    async with session(client_ssl) as s:
        started = time.perf_counter()
        status, body = await post(
            s, f"{url}/validate", review(pod(annotations={"ddcompat.io/frameworks": crafted}))
        )
        took = time.perf_counter() - started
    assert status == 200 and took < 0.5
    response = body["response"]
    # over-long: judged as a finding naming the key, so enforce denies
    assert response["allowed"] is False
    assert "ddcompat.io/frameworks" in response["status"]["message"]
    assert "value too long" in response["status"]["message"]
