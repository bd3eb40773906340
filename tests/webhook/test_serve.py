"""`ddcompat webhook serve` as a process: TLS only, readiness fails first on SIGTERM,
requests keep being answered until it stops, then a clean exit. And an HTTP-level fuzz
of the running server: never a 5xx."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tools import free_port, wait_ready
from tests.webhook.conftest import pod, review


def request(
    port: int,
    ctx: ssl.SSLContext,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def start(
    cert_files: tuple[Path, Path],
    *flags: str,
    env: dict[str, str] | None = None,
    output: Any = subprocess.PIPE,
) -> tuple[subprocess.Popen[bytes], int]:
    """`ddcompat webhook serve` on a free loopback port, with these extra flags; its
    output to ``output`` (a pipe the caller reads, or a file)."""
    cert, key = cert_files
    port = free_port()
    exe = Path(sys.executable).parent / "ddcompat"
    proc = subprocess.Popen(
        [
            str(exe),
            "webhook",
            "serve",
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *flags,
        ],
        stdout=output,
        stderr=subprocess.STDOUT,
        env=env,
    )
    return proc, port


@pytest.fixture
def server(
    cert_files: tuple[Path, Path], client_ssl: ssl.SSLContext
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    proc, port = start(
        cert_files, "--shutdown-delay", "1.5", env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    wait_ready(f"https://127.0.0.1:{port}/readyz", context=client_ssl, proc=proc)
    yield proc, port
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_sigterm_fails_readiness_first_then_exits(
    server: tuple[subprocess.Popen[bytes], int], client_ssl: ssl.SSLContext
) -> None:
    proc, port = server
    body = json.dumps(review(pod("1.9.0"))).encode()
    headers = {"Content-Type": "application/json"}
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert request(port, client_ssl, "GET", "/readyz")[0] == 503
    status, answer = request(port, client_ssl, "POST", "/validate", body, headers)
    assert status == 200 and json.loads(answer)["response"]["allowed"] is False
    assert proc.wait(timeout=15) == 0
    out = proc.stdout.read().decode() if proc.stdout else ""
    assert "SIGTERM: not ready" in out


def test_shutdown_drops_late_bytes_and_finishes_in_flight(
    cert_files: tuple[Path, Path], client_ssl: ssl.SSLContext
) -> None:
    """Issue 14.13: a request still uploading when the shutdown delay ends gets no more
    of its bytes read: it ends in a 408 at the read timeout; a request in flight
    finishes; the process exits cleanly."""
    proc, port = start(cert_files, "--shutdown-delay", "0.3", "--read-timeout", "1.5")
    try:
        wait_ready(f"https://127.0.0.1:{port}/readyz", context=client_ssl, proc=proc)
        body = json.dumps(review(pod("1.9.0"), uid="late")).encode()
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        conn = client_ssl.wrap_socket(raw, server_hostname="127.0.0.1")
        conn.sendall(
            b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:100]
        )
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.6)  # past the shutdown delay: the listener is closed
        with contextlib.suppress(OSError):
            conn.sendall(body[100:200])  # late bytes: not read
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := conn.recv(65536):
                answer += chunk
        took = time.monotonic() - started
        conn.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert took < 5
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def running(server: tuple[subprocess.Popen[bytes], int]) -> int:
    return server[1]


bodies = st.one_of(
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=20,
    ).map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda drop, obj: json.dumps({k: v for k, v in review(obj).items() if k != drop}).encode(),
        st.sampled_from(["", "apiVersion", "kind", "request"]),
        st.one_of(
            st.none(),
            st.just(pod("1.9.0")),
            st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
        ),
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=bodies,
    ctype=st.sampled_from(
        ["application/json", "text/plain", "application/json; charset=utf-8", ""]
    ),
    path=st.sampled_from(["/validate", "/validate/warn", "/validate/x"]),
)
def test_fuzz_http_never_5xx(
    running: int, client_ssl: ssl.SSLContext, body: bytes, ctype: str, path: str
) -> None:
    headers = {"Content-Type": ctype} if ctype else {}
    status, answer = request(running, client_ssl, "POST", path, body, headers)
    assert status < 500, answer
    data: Any = json.loads(answer)
    assert ("response" in data) if status == 200 else ("error" in data)
