"""The scanner with --inspect-images against the real registry: a scan never waits on a
registry; what it did not know is read after it, and the next scan shows it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ddcompat.scanner import app as app_mod
from ddcompat.scanner import scan as scan_mod
from ddcompat.shared.images import inspector, registry
from tests.images.conftest import PASSWORD, USER, Layer, Registry, dist_info, layout
from tests.scanner.conftest import wait_scans


async def test_images_are_read_after_a_scan_and_shown_by_the_next(
    registry: Registry, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    d = tmp_path_factory.mktemp("svc")
    layer = Layer({"usr/local/lib/python3.13/": b"", **dist_info("ddtrace", "4.13.1")})
    image = registry.push(layout(d / "oci", [([layer], [], "amd64")]), "shop/svc:7f3c2a1")
    images = inspector.Inspector(registry_client(registry), cache_dir=tmp_path / "cache")
    app, runner = await _started(tmp_path, image, images)
    try:
        await wait_scans(app, 2)  # the first scan, then the one the inspection asked for
        snap = app[app_mod.STATE].published.snapshot
        assert snap is not None
        entry = snap.entries[("shop", "Deployment", "svc", "app")]
        facts = entry.result.workload.facts
        assert (facts.ddtrace, facts.python) == ("4.13.1", "3.13")
        assert facts.sources.ddtrace == "image_layers"
        metrics = app[app_mod.STATE].metrics
        assert metrics.inspections.labels("ok")._value.get() == 1
    finally:
        await runner.cleanup()


def registry_client(reg: Registry) -> registry.Client:
    return registry.Client(credentials={reg.host: (USER, PASSWORD)}, ca_file=str(reg.ca_file))


async def test_a_stuck_registry_never_holds_the_scanners_shutdown(
    hostile: Any, hostile_certs: Any, tmp_path: Path
) -> None:
    """Issue 23.3: the images a scan did not know are read after it; a registry that
    drips forever must not keep the scanner from stopping (nor the threads behind it)."""
    import asyncio

    hostile.routes["*"] = lambda h: h.stream(iter([b" "] * 100_000), delay=0.5)
    client = registry.Client(ca_file=str(hostile_certs.ca_file), timeout=5.0)
    images = inspector.Inspector(client, cache_dir=tmp_path / "cache", deadline=300.0)
    app, runner = await _started(tmp_path, f"{hostile.host}/shop/stuck:1", images)
    try:
        await wait_scans(app, 1)
        for _ in range(100):  # the inspection after the scan is under way (and stuck)
            if app[app_mod.STATE].inspecting is not None and hostile.seen:
                break
            await asyncio.sleep(0.02)
        assert app[app_mod.STATE].inspecting is not None
    finally:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await runner.cleanup()
        took = loop.time() - started
    assert took < 3.0, f"shutdown took {took:.1f} s"
    # the inspection itself ends at its next read (the client leaves the dripping
    # answer), not at its 300 s deadline
    for _ in range(200):
        if hostile.finished == len(hostile.seen):
            break
        await asyncio.sleep(0.05)
    assert images.stopping.is_set() and hostile.finished == len(hostile.seen)


async def _started(
    tmp_path: Path, image: str, images: inspector.Inspector
) -> tuple[web.Application, web.AppRunner]:
    """A scanner app (set up, scanning) over a folder with one Deployment of ``image``
    with AppSec on, inspecting images with ``images``."""
    config = app_mod.Config(
        options=scan_mod.Options(paths=(_fleet(tmp_path, image),), inspect_images=True),
        interval=3600,
        images=images,
    )
    app = app_mod.create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    return app, runner


def _fleet(tmp_path: Path, image: str) -> Path:
    """A folder with one Deployment of ``image`` with AppSec on."""
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    (fleet / "svc.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: svc, namespace: shop}\n"
        "spec:\n  template:\n    spec:\n      containers:\n      - name: app\n"
        f"        image: {image}\n"
        "        env: [{name: DD_APPSEC_ENABLED, value: 'true'}]\n"
    )
    return fleet
