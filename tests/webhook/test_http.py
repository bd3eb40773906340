"""The webhook over real TLS on loopback, built from the production app factory."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from ddcompat.webhook import app as app_mod
from tests.webhook.conftest import Server, pod, review

JSON = {"Content-Type": "application/json"}


async def post(
    session: aiohttp.ClientSession, url: str, body: Any, *, headers: dict[str, str] = JSON
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with session.post(url, data=data, headers=headers) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


async def test_health_ready_metrics(tls_server: Server, client_ssl: ssl.SSLContext) -> None:
    url, _ = await tls_server()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl)) as s:
        async with s.get(f"{url}/healthz") as r:
            assert r.status == 200
        async with s.get(f"{url}/readyz") as r:
            assert r.status == 200
        assert (await post(s, f"{url}/validate", review(pod("1.9.0"))))[1]["response"][
            "allowed"
        ] is False
        async with s.get(f"{url}/metrics") as r:
            text = await r.text()
    assert (
        "ddcompat_admission_requests_total"
        '{decision="denied",kind="Pod",mode="enforce",operation="CREATE"} 1.0' in text
    )
    assert (
        "ddcompat_admission_findings_total"
        '{code="DDTRACE_TOO_OLD",feature="threat_protection",kind="Pod"} 1.0' in text
    )
    assert "ddcompat_admission_duration_seconds_bucket" in text
    assert 'ddcompat_build_info{component="webhook"' in text
    # the matrix in force (the tests' default edition, seed, says no facts day)
    assert 'ddcompat_matrix_info{edition="seed",facts_read=""' in text


@pytest.mark.parametrize(
    ("path", "ddtrace", "allowed", "decision"),
    [
        ("/validate", "1.9.0", False, "denied"),
        ("/validate/enforce", "1.20.0", True, "allowed"),
        ("/validate/warn", "1.9.0", True, "warned"),
        ("/validate/audit", "1.9.0", True, "audited"),
    ],
)
async def test_modes_by_path(
    tls_server: Server,
    client_ssl: ssl.SSLContext,
    path: str,
    ddtrace: str,
    allowed: bool,
    decision: str,
) -> None:
    url, app = await tls_server()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl)) as s:
        status, body = await post(s, url + path, review(pod(ddtrace), uid="u-1"))
    assert status == 200
    assert body["response"]["uid"] == "u-1" and body["response"]["allowed"] is allowed
    counter = app[app_mod.STATE].metrics.requests
    mode = path.rsplit("/", 1)[-1] if path != "/validate" else "enforce"
    assert counter.labels("CREATE", decision, mode, "Pod")._value.get() == 1


async def test_dry_run_is_not_counted_as_denial(
    tls_server: Server, client_ssl: ssl.SSLContext
) -> None:
    url, app = await tls_server()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl)) as s:
        _, body = await post(s, f"{url}/validate", review(pod("1.9.0"), dry_run=True))
    assert body["response"]["allowed"] is False
    counter = app[app_mod.STATE].metrics.requests
    assert counter.labels("CREATE", "denied", "enforce", "Pod")._value.get() == 0
    assert counter.labels("CREATE", "dry_run", "enforce", "Pod")._value.get() == 1


BAD_INPUTS = [
    ("malformed JSON", b"{not json", JSON, 400, "not valid JSON"),
    (
        "wrong content type",
        json.dumps(review(pod())).encode(),
        {"Content-Type": "text/plain"},
        415,
        "application/json",
    ),
    (
        "missing request",
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"},
        JSON,
        400,
        "request",
    ),
    (
        "missing uid",
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"kind": {}}},
        JSON,
        400,
        "uid",
    ),
    ("v1beta1", dict(review(pod()), apiVersion="admission.k8s.io/v1beta1"), JSON, 400, "v1beta1"),
    ("JSON array", b"[1, 2]", JSON, 400, "not a JSON object"),
    ("deep nesting", b"[" * 100000 + b"]" * 100000, JSON, 400, "not valid JSON"),
]


@pytest.mark.parametrize(
    ("what", "body", "headers", "status", "text"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
async def test_bad_input_is_a_clear_4xx(
    tls_server: Server,
    client_ssl: ssl.SSLContext,
    what: str,
    body: Any,
    headers: dict[str, str],
    status: int,
    text: str,
) -> None:
    url, app = await tls_server()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl)) as s:
        got, answer = await post(s, f"{url}/validate", body, headers=headers)
    assert got == status, answer
    assert text in answer["error"]
    assert (
        app[app_mod.STATE]
        .metrics.requests.labels("unknown", "error", "enforce", "other")
        ._value.get()
        == 1
    )


@pytest.mark.parametrize(
    "body",
    [review(None, operation="DELETE"), review({"metadata": {"name": "d"}}, kind="Deployment")],
    ids=["object null", "not a pod"],
)
async def test_not_ours_is_allowed(
    tls_server: Server, client_ssl: ssl.SSLContext, body: Any
) -> None:
    url, _ = await tls_server()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl)) as s:
        status, answer = await post(s, f"{url}/validate", body)
    assert status == 200 and answer["response"]["allowed"] is True


async def test_unknown_mode_is_404(tls_server: Server, client_ssl: ssl.SSLContext) -> None:
    url, _ = await tls_server()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl)) as s:
        status, answer = await post(s, f"{url}/validate/lenient", review(pod()))
    assert status == 404 and "lenient" in answer["error"]


async def test_huge_body_is_413(tls_server: Server, client_ssl: ssl.SSLContext) -> None:
    url, _ = await tls_server(max_body=64 * 1024)
    big = review(pod(annotations={"filler": "x" * 100_000}))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl)) as s:
        status, answer = await post(s, f"{url}/validate", big)
        assert status == 413 and "larger than 65536" in answer["error"]
        # the server is still fine afterwards
        status, answer = await post(s, f"{url}/validate", review(pod()))
        assert status == 200


async def test_slow_client_gets_408(tls_server: Server, client_ssl: ssl.SSLContext) -> None:
    url, _ = await tls_server(read_timeout=0.3)
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=client_ssl, server_hostname="127.0.0.1"
    )
    writer.write(
        b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 5000\r\n\r\n{"apiVersion":'
    )
    await writer.drain()
    started = time.monotonic()
    head = await asyncio.wait_for(reader.readline(), 5)
    assert head.startswith(b"HTTP/1.1 408"), head
    assert time.monotonic() - started < 3
    writer.close()
    await writer.wait_closed()


async def test_deadline_answers_per_failure_mode(
    tls_server: Server, client_ssl: ssl.SSLContext
) -> None:
    # A pod far bigger than any real one takes longer than a 1 ms deadline to evaluate.
    containers = [
        {
            "name": f"c{i}",
            "image": f"python:3.{i % 12}",
            "env": [{"name": "DD_APPSEC_ENABLED", "value": "1"}],
        }
        for i in range(300)
    ]
    body = review(pod("1.9.0", containers=containers))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl)) as s:
        for allow in (True, False):
            url, _ = await tls_server(deadline=0.001, failure_allow=allow, max_body=8 << 20)
            status, answer = await post(s, f"{url}/validate", body)
            assert status == 200 and answer["response"]["allowed"] is allow
            resp = answer["response"]
            text = resp["warnings"][0] if allow else resp["status"]["message"]
            assert "exceeded the 1 ms deadline" in text
            assert ("admitted" if allow else "rejected") + " per the failure mode" in text
            # with the default deadline the same pod is judged on its merits
            url, _ = await tls_server(max_body=8 << 20)
            status, answer = await post(s, f"{url}/validate", body)
            assert status == 200 and answer["response"]["allowed"] is False
            assert "PYTHON_UNSUPPORTED" in answer["response"]["status"]["message"]


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
async def test_old_tls_is_refused(tls_server: Server, ca: trustme.CA) -> None:
    url, _ = await tls_server()
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s:
        with pytest.raises(aiohttp.ClientError):
            await post(s, f"{url}/healthz", b"")


async def test_plain_http_is_refused(tls_server: Server) -> None:
    url, _ = await tls_server()
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientError):
            await post(s, url.replace("https", "http") + "/validate", review(pod()))


def _served_cert(ssl_object: Any) -> bytes:
    der: bytes = ssl_object.getpeercert(binary_form=True)
    return der


async def test_cert_rotation_under_load(
    tls_server: Server, ca: trustme.CA, client_ssl: ssl.SSLContext, cert_files: tuple[Path, Path]
) -> None:
    url, app = await tls_server(cert_poll_interval=0.05)
    reloader = app[app_mod.STATE].reloader
    assert reloader is not None
    cert, key = cert_files
    failures: list[str] = []
    done = 0
    stop = asyncio.Event()

    async def client(fresh_connections: bool) -> None:
        nonlocal done
        while not stop.is_set():
            connector = aiohttp.TCPConnector(ssl=client_ssl, force_close=fresh_connections)
            async with aiohttp.ClientSession(connector=connector) as s:
                for _ in range(20):
                    try:
                        status, body = await post(s, f"{url}/validate", review(pod("1.20.0")))
                        if status != 200 or body["response"]["allowed"] is not True:
                            failures.append(f"{status} {body}")
                        done += 1
                    except Exception as exc:  # any failure counts
                        failures.append(repr(exc))

    async def served_der() -> bytes:
        _reader, writer = await asyncio.open_connection(
            "127.0.0.1", int(url.rsplit(":", 1)[1]), ssl=client_ssl, server_hostname="127.0.0.1"
        )
        der = _served_cert(writer.get_extra_info("ssl_object"))
        writer.close()
        await writer.wait_closed()
        return der

    before = await served_der()
    tasks = [asyncio.create_task(client(fresh)) for fresh in (True, True, False, False)]
    await asyncio.sleep(0.5)
    for _ in range(3):  # rotate three times while the load runs
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        # write the pair the way a Secret update lands: new files swapped in atomically
        tmp_c, tmp_k = cert.with_name("crt.new"), key.with_name("key.new")
        tmp_c.write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems))
        tmp_k.write_bytes(leaf.private_key_pem.bytes())
        tmp_k.replace(key)
        tmp_c.replace(cert)
        await asyncio.sleep(0.4)
    stop.set()
    await asyncio.gather(*tasks)
    after = await served_der()
    assert failures == []
    assert done > 50
    assert reloader.reloads >= 1
    assert before != after
    registry = app[app_mod.STATE].metrics.registry
    loaded = registry.get_sample_value("ddcompat_webhook_tls_reloads_total", {"result": "loaded"})
    assert loaded == reloader.reloads


async def test_cert_rotation_through_a_bad_pair_and_back(
    tls_server: Server, ca: trustme.CA, client_ssl: ssl.SSLContext, cert_files: tuple[Path, Path]
) -> None:
    """Issue 14.5: a mismatched pair, then a half-written one, then the previous good pair
    put back: the last good context serves throughout, under concurrent fresh clients."""
    url, app = await tls_server(cert_poll_interval=0.02)
    reloader = app[app_mod.STATE].reloader
    assert reloader is not None
    cert, key = cert_files
    good_cert, good_key = cert.read_bytes(), key.read_bytes()
    other = ca.issue_cert("127.0.0.1", "localhost")
    failures: list[str] = []
    done = 0
    stop = asyncio.Event()

    async def client() -> None:
        nonlocal done
        while not stop.is_set():
            connector = aiohttp.TCPConnector(ssl=client_ssl, force_close=True)
            async with aiohttp.ClientSession(connector=connector) as s:
                try:
                    async with s.get(f"{url}/healthz") as r:
                        done += 1
                        if r.status != 200:
                            failures.append(str(r.status))
                except Exception as exc:
                    failures.append(repr(exc))

    tasks = [asyncio.create_task(client()) for _ in range(4)]
    await asyncio.sleep(0.2)
    # 1. a mismatched pair: the new certificate with the old key
    cert.write_bytes(b"".join(b.bytes() for b in other.cert_chain_pems))
    await asyncio.sleep(0.3)
    # 2. half-written: the key cut in the middle
    key.write_bytes(other.private_key_pem.bytes()[:100])
    await asyncio.sleep(0.3)
    # 3. the previous good pair back
    cert.write_bytes(good_cert)
    key.write_bytes(good_key)
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.gather(*tasks)
    assert failures == [] and done > 20
    assert reloader.reloads == 0  # nothing bad was ever swapped in
    registry = app[app_mod.STATE].metrics.registry
    rejected = registry.get_sample_value(
        "ddcompat_webhook_tls_reloads_total", {"result": "rejected"}
    )
    assert rejected is not None and rejected >= 2
