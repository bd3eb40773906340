"""A scanner that never dies quietly and never blocks on input (issue 14.8, 14.11)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from ddcompat.scanner import app as app_mod
from ddcompat.scanner import scan as scan_mod
from tests.scanner.conftest import wait_scans
from tests.tools import start_site

HUGE = "1" * 5000  # past Python's int-string limit


def deployment(name: str, ddtrace: str) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: shop
  annotations:
    ddcompat.io/ddtrace-version: "{ddtrace}"
spec:
  template:
    spec:
      containers:
      - name: app
        image: python:3.11
        env: [{{name: DD_APPSEC_ENABLED, value: "true"}}]
"""


Files = Callable[..., Any]


@pytest_asyncio.fixture
async def files_service(tmp_path: Path) -> AsyncIterator[Files]:
    runners: list[web.AppRunner] = []

    async def start(**config: Any) -> tuple[str, web.Application]:
        options = scan_mod.Options(paths=(tmp_path,))
        app = app_mod.create_app(app_mod.Config(options=options, interval=3600, **config))
        return f"http://127.0.0.1:{await start_site(app, runners)}", app

    yield start
    for r in runners:
        await r.cleanup()


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, await r.text()


async def test_a_huge_version_in_a_descriptor_is_a_finding_and_scans_go_on(
    files_service: Files, tmp_path: Path
) -> None:
    (tmp_path / "ok.yaml").write_text(deployment("ok", "2.21.4"))
    (tmp_path / "huge.yaml").write_text(deployment("huge", HUGE))  # over-long: input error
    (tmp_path / "big.yaml").write_text(deployment("big", "1." + "9" * 200))  # a finding
    url, app = await files_service()
    await wait_scans(app, 1)
    snap = app[app_mod.STATE].published.snapshot
    assert snap is not None
    assert {k[2] for k in snap.entries} == {"ok", "big"}
    big = snap.entries[("shop", "Deployment", "big", "app")]
    assert big.result.features["threat_detection"].status == "unknown"
    assert any("huge.yaml" in message for _, _, message in snap.errors)
    # the loop is alive: a second scan completes on request
    async with aiohttp.ClientSession() as s, s.post(f"{url}/scan") as r:
        assert r.status == 202
    await wait_scans(app, 2)
    assert (await get(f"{url}/healthz"))[0] == 200


async def test_a_failing_scan_marks_the_snapshot_stale_and_the_loop_goes_on(
    files_service: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ok.yaml").write_text(deployment("ok", "2.21.4"))
    url, app = await files_service()
    await wait_scans(app, 1)
    state = app[app_mod.STATE]

    def broken(*args: Any) -> None:
        raise RuntimeError("a bug in a scan")

    monkeypatch.setattr(scan_mod, "scan_files", broken)
    async with aiohttp.ClientSession() as s, s.post(f"{url}/scan") as r:
        assert r.status == 202
    await wait_scans(app, 1, "failed")
    assert state.published.stale and state.published.snapshot is not None
    assert (await get(f"{url}/healthz"))[0] == 200
    assert state.loop is not None and not state.loop.done()


async def test_healthz_fails_when_the_loop_has_ended(
    files_service: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def ends(state: Any, session: Any) -> bool:
        raise SystemError("the loop itself broke")

    monkeypatch.setattr(app_mod, "run_once", ends)
    url, app = await files_service()
    for _ in range(100):
        loop = app[app_mod.STATE].loop
        if loop is not None and loop.done():
            break
        await asyncio.sleep(0.01)
    status, text = await get(f"{url}/healthz")
    assert status == 500 and "loop" in text


async def test_a_trigger_during_a_scan_is_queued(
    files_service: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ok.yaml").write_text(deployment("ok", "2.21.4"))
    real = scan_mod.scan_files
    gate = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow(*args: Any) -> None:
        asyncio.run_coroutine_threadsafe(gate.wait(), loop).result(5)
        real(*args)

    monkeypatch.setattr(scan_mod, "scan_files", slow)
    url, app = await files_service()
    await asyncio.sleep(0.05)
    assert app[app_mod.STATE].scanning
    async with aiohttp.ClientSession() as s, s.post(f"{url}/scan") as r:
        assert r.status == 202  # asked for during the first scan
    # the event loop answers while the files are read (off the loop)
    assert (await get(f"{url}/healthz"))[0] == 200
    gate.set()
    await wait_scans(app, 2)  # the second scan ran without another request


async def test_the_trigger_can_be_off_or_need_a_token(files_service: Files) -> None:
    url, _ = await files_service(trigger_enabled=False)
    async with aiohttp.ClientSession() as s, s.post(f"{url}/scan") as r:
        assert r.status in (404, 405)
    url, _ = await files_service(trigger_token="s3cret")
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{url}/scan") as r:
            assert r.status == 401
        async with s.post(f"{url}/scan", headers={"Authorization": "Bearer s3cret"}) as r:
            assert r.status == 202


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
async def test_a_fifo_named_like_a_manifest_is_skipped(
    files_service: Files, tmp_path: Path
) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "ok.yaml").write_text(deployment("ok", "2.21.4"))
    _, app = await asyncio.wait_for(files_service(), 5)
    await asyncio.wait_for(wait_scans(app, 1), 5)
    snap = app[app_mod.STATE].published.snapshot
    assert snap is not None and {k[2] for k in snap.entries} == {"ok"}


async def test_a_file_that_breaks_keeps_its_workloads_previous_series(
    files_service: Files, tmp_path: Path
) -> None:
    (tmp_path / "ok.yaml").write_text(deployment("ok", "2.21.4"))
    (tmp_path / "old.yaml").write_text(deployment("old", "1.9.0"))
    url, app = await files_service()
    await wait_scans(app, 1)
    state = app[app_mod.STATE]
    assert state.published.snapshot is not None
    before = state.published.snapshot.entries[("shop", "Deployment", "old", "app")]
    (tmp_path / "old.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: [\n")
    async with aiohttp.ClientSession() as s, s.post(f"{url}/scan") as r:
        assert r.status == 202
    await wait_scans(app, 2)
    snap = state.published.snapshot
    assert snap is not None and snap.carried == 1
    assert snap.entries[("shop", "Deployment", "old", "app")] is before
    assert any("old.yaml" in message for _, _, message in snap.errors)
    _, text = await get(f"{url}/metrics")
    assert "ddcompat_snapshot_carried_workloads 1.0" in text
    # fixed again: read afresh, nothing carried
    (tmp_path / "old.yaml").write_text(deployment("old", "2.21.4"))
    async with aiohttp.ClientSession() as s, s.post(f"{url}/scan") as r:
        assert r.status == 202
    await wait_scans(app, 3)
    assert state.published.snapshot is not None and state.published.snapshot.carried == 0


async def test_the_scanners_page_shows_nothing_of_its_own_environment(
    files_service: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 23.5: a .env that refers to $PATH (or a secret) showed the scanner's own value
    monkeypatch.setenv("SCANNER_SECRET", "s3cr3t-of-the-scanner")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  api:\n    image: python:3.11\n    labels:\n"
        "      ddcompat.io/ddtrace-version: ${VERSION}\n"
        "    environment:\n      DD_APPSEC_ENABLED: 'true'\n      DD_TAGS: ${TAGS}\n"
    )
    (tmp_path / ".env").write_text("VERSION=2.21.4${SCANNER_SECRET}\nTAGS=path:${PATH}\n")
    url, app = await files_service()
    await wait_scans(app, 1)
    status, page = await get(f"{url}/")
    assert status == 200 and "api" in page
    assert "s3cr3t-of-the-scanner" not in page
    assert os.environ["PATH"] not in page
