"""Hostile input against the webhook over real TLS (issue 14): every answer a 200 with a
judgement or a 4xx, never a 5xx; every label value from a fixed set; every answer counted."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod
from ddcompat.shared import settings as settings_mod
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


async def test_label_values_come_from_fixed_sets(
    tls_server: Server, client_ssl: ssl.SSLContext
) -> None:
    url, app = await tls_server()
    async with session(client_ssl) as s:
        for i in range(5):
            r = review(pod("2.21.4"))
            r["request"]["operation"] = f"MINTED-{i}"
            status, _ = await post(s, f"{url}/validate", r)
            assert status == 200
        async with s.get(f"{url}/metrics") as resp:
            text = await resp.text()
    assert "MINTED" not in text
    assert (
        metric(
            app,
            "ddcompat_admission_requests_total",
            operation="other",
            decision="skipped",
            mode="enforce",
            kind="Pod",
        )
        == 5
    )


async def test_every_answer_is_counted(tls_server: Server, client_ssl: ssl.SSLContext) -> None:
    url, app = await tls_server()
    async with session(client_ssl) as s:
        assert (await post(s, f"{url}/validate/strict", review(pod())))[0] == 404
        assert (await post(s, f"{url}/nowhere", review(pod())))[0] == 404
        async with s.get(f"{url}/validate") as resp:
            assert resp.status == 405
        assert (await post(s, f"{url}/validate", review(pod())))[0] == 200
    assert metric(app, "ddcompat_http_responses_total", handler="validate", code="404") == 1
    assert metric(app, "ddcompat_http_responses_total", handler="other", code="404") == 1
    assert metric(app, "ddcompat_http_responses_total", handler="other", code="405") == 1
    assert metric(app, "ddcompat_http_responses_total", handler="validate", code="200") == 1


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Content-Encoding": "gzip"}, b"not gzip at all", 400),
        ({"Content-Encoding": "deflate"}, b"\x00\x01garbage", 400),
    ],
    ids=["gzip", "deflate"],
)
async def test_bogus_encodings_are_400(
    tls_server: Server,
    client_ssl: ssl.SSLContext,
    headers: dict[str, str],
    body: bytes,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, app = await tls_server()
    async with session(client_ssl) as s:
        got, _ = await post(s, f"{url}/validate", body, {**JSON, **headers})
    assert got == status
    assert metric(app, "ddcompat_http_responses_total", handler="validate", code=str(status)) == 1
    # one line, no traceback
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.parametrize("meta", ["x", 5, [1]])
async def test_metadata_of_the_wrong_type_is_400(
    tls_server: Server, client_ssl: ssl.SSLContext, meta: Any
) -> None:
    url, _ = await tls_server()
    p = pod()
    p["metadata"] = meta
    async with session(client_ssl) as s:
        status, body = await post(s, f"{url}/validate", review(p))
    assert status == 400 and "metadata" in body["error"]


async def test_an_announced_oversize_body_is_413_at_once(
    tls_server: Server, client_ssl: ssl.SSLContext
) -> None:
    url, _ = await tls_server(read_timeout=5.0)
    async with session(client_ssl) as s:
        started = time.perf_counter()
        headers = {**JSON, "Content-Length": str(10**9)}
        status, _ = await post(s, f"{url}/validate", b"{}" * 5, headers)
        took = time.perf_counter() - started
    assert status == 413 and took < 1.0


async def test_a_slow_upload_is_still_judged(
    tls_server: Server, client_ssl: ssl.SSLContext
) -> None:
    """Issue 14.7: the deadline counts from when the body is in; a body sent slowly
    (within the read timeout) is judged, not admitted unevaluated."""
    url, _ = await tls_server(deadline=0.3, failure_allow=True, read_timeout=5.0)
    port = int(url.rsplit(":", 1)[1])
    body = json.dumps(review(pod("1.9.0"), uid="slow")).encode()
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=client_ssl, server_hostname="127.0.0.1"
    )
    writer.write(
        b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
    )
    for i in range(0, len(body), len(body) // 4 + 1):
        writer.write(body[i : i + len(body) // 4 + 1])
        await writer.drain()
        await asyncio.sleep(0.2)  # 0.8 s in all: past the deadline
    raw = await reader.read()
    writer.close()
    answer = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    assert answer["response"]["uid"] == "slow"
    assert answer["response"]["allowed"] is False  # judged: ddtrace 1.9.0 is too old


@pytest.mark.parametrize(("annotations", "source"), [("allow", "annotation"), ("deny", "refused")])
async def test_self_exemptions_are_counted_by_source(
    tls_server: Server, client_ssl: ssl.SSLContext, annotations: str, source: str
) -> None:
    """Issue 14.9: a self-exemption is honoured only where the policy allows it."""
    settings = settings_mod.Settings(
        matrix_mod.load(edition="seed"),
        policy_mod.from_data({"exemptions": {"annotations": annotations}}),
    )
    url, app = await tls_server(settings=settings)
    p = pod("1.9.0", annotations={"ddcompat.io/exempt": "mine, trust me"})
    async with session(client_ssl) as s:
        status, body = await post(s, f"{url}/validate", review(p))
    assert status == 200
    assert body["response"]["allowed"] is (source == "annotation")
    assert metric(app, "ddcompat_admission_exemptions_total", source=source) == 1


async def test_connections_that_never_start_tls_are_dropped(tls_server: Server) -> None:
    """Issue 14.12: each idle socket would otherwise hold a slot for a minute or more."""
    url, _ = await tls_server(read_timeout=0.5)
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by the server
    assert time.perf_counter() - started < 1.5
    writer.close()


async def test_half_sent_headers_are_dropped_within_the_read_timeout(
    tls_server: Server, client_ssl: ssl.SSLContext
) -> None:
    url, _ = await tls_server(read_timeout=0.5)
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=client_ssl, server_hostname="127.0.0.1"
    )
    writer.write(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
    await writer.drain()
    started = time.perf_counter()
    assert await asyncio.wait_for(reader.read(), 3) == b""
    assert time.perf_counter() - started < 1.5
    writer.close()
    # a well-behaved client on its own connection is unaffected
    async with session(client_ssl) as s:
        assert (await post(s, f"{url}/validate", review(pod())))[0] == 200


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"POST /validate HTTP/1.1\r\n" + b"X-Long: " + b"a" * 20000 + b"\r\n\r\n",
    ],
    ids=["request-line", "content-length", "long-header"],
)
async def test_bad_http_is_a_4xx_without_a_traceback(
    tls_server: Server,
    client_ssl: ssl.SSLContext,
    raw: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, _ = await tls_server()
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=client_ssl, server_hostname="127.0.0.1"
    )
    writer.write(raw)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer.split(b" ", 2)[1].startswith(b"4"), answer[:100]
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
