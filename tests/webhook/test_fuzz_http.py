"""A Hypothesis-driven fuzz of AdmissionReviews over real TLS (issue 14, done-when): giant
numbers, long strings, deep nesting and odd types in every field the decoder reads. No
answer is a 5xx, and none is slower than the evaluation deadline."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import http.client
import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddcompat.webhook import app as app_mod
from tests.tools import write_leaf
from tests.webhook.conftest import pod, review

DEADLINE = 0.5
# Every field the decoder reads, as a path into a review.
PATHS: list[tuple[Any, ...]] = [
    ("apiVersion",),
    ("kind",),
    ("request",),
    ("request", "uid"),
    ("request", "kind"),
    ("request", "kind", "group"),
    ("request", "kind", "kind"),
    ("request", "operation"),
    ("request", "namespace"),
    ("request", "name"),
    ("request", "dryRun"),
    ("request", "object"),
    ("request", "oldObject"),
    ("request", "object", "kind"),
    ("request", "object", "apiVersion"),
    ("request", "object", "metadata"),
    ("request", "object", "metadata", "name"),
    ("request", "object", "metadata", "namespace"),
    ("request", "object", "metadata", "labels"),
    ("request", "object", "metadata", "annotations"),
    ("request", "object", "metadata", "annotations", "ddcompat.io/ddtrace-version"),
    ("request", "object", "metadata", "annotations", "ddcompat.io/python-version"),
    ("request", "object", "metadata", "annotations", "ddcompat.io/frameworks"),
    ("request", "object", "metadata", "annotations", "ddcompat.io/features"),
    ("request", "object", "metadata", "ownerReferences"),
    ("request", "object", "spec"),
    ("request", "object", "spec", "containers"),
    ("request", "object", "spec", "containers", 0),
    ("request", "object", "spec", "containers", 0, "name"),
    ("request", "object", "spec", "containers", 0, "image"),
    ("request", "object", "spec", "containers", 0, "env"),
    ("request", "object", "spec", "containers", 0, "env", 0),
    ("request", "object", "spec", "containers", 0, "env", 0, "value"),
    ("request", "object", "spec", "initContainers"),
    ("request", "object", "spec", "nodeSelector"),
    ("request", "object", "spec", "affinity"),
]


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


HOSTILE = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.just("9" * 5000),  # a string of 5,000 digits
    st.just("1." + "9" * 4400),
    st.text(min_size=0, max_size=50),
    st.builds(lambda n: "a==" + " " * n + "x", st.integers(0, 200_000)),
    st.builds(lambda n, c: c * n, st.integers(1000, 300_000), st.sampled_from("x9{[.")),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=5),
    st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=5),
    st.builds(_nested, st.sampled_from([10, 200, 2000])),
)


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    node = doc
    for part in path[:-1]:
        node = node[part]
        if node is None:
            return
    node[path[-1]] = value


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, ssl.SSLContext]]:
    """The production app over real TLS, on its own event loop in a thread."""
    ca = trustme.CA()
    tmp: Path = tmp_path_factory.mktemp("tls")
    cert, key = write_leaf(ca.issue_cert("127.0.0.1"), tmp / "tls.crt", tmp / "tls.key")
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, Any] = {}

    async def start() -> None:
        config = app_mod.Config(cert=cert, key=key, deadline=DEADLINE, failure_allow=True)
        app = app_mod.create_app(config)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        reloader = app[app_mod.STATE].reloader
        assert reloader is not None
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=reloader.context)
        await site.start()
        box["runner"] = runner
        box["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    started.wait(10)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    yield box["port"], client
    asyncio.run_coroutine_threadsafe(box["runner"].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


BASE = review(pod("2.21.4", annotations={"ddcompat.io/frameworks": "django==4.2"}))
BASE["request"]["oldObject"] = pod("2.21.4")


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(st.tuples(st.sampled_from(PATHS), HOSTILE), min_size=1, max_size=3),
    st.sampled_from(["/validate", "/validate/warn", "/validate/audit"]),
    st.sampled_from(["CREATE", "UPDATE"]),
)
def test_no_5xx_and_no_answer_past_the_deadline(
    server: tuple[int, ssl.SSLContext],
    changes: list[tuple[tuple[Any, ...], Any]],
    path: str,
    operation: str,
) -> None:
    port, client = server
    body = copy.deepcopy(BASE)
    body["request"]["operation"] = operation
    for where, value in changes:
        with contextlib.suppress(KeyError, IndexError, TypeError):
            _set(body, where, value)  # (an earlier change may have replaced a parent)
    try:
        raw = json.dumps(body).encode()
    except (ValueError, RecursionError):
        return
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=client, timeout=10)
    try:
        started = time.perf_counter()
        conn.request("POST", path, raw, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        answer = resp.read()
        took = time.perf_counter() - started
    finally:
        conn.close()
    assert resp.status < 500, (resp.status, answer[:300], changes)
    assert took < DEADLINE + 0.25, (took, changes)  # (the wire itself takes a little)
    if resp.status == 200:
        assert json.loads(answer)["response"]["uid"] == body["request"]["uid"]
