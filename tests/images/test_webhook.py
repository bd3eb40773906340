"""The webhook with --inspect-images against the real registry: admission never waits on
a registry; a miss is answered on the other facts, the image is read in the background, and
the next pod of that image is judged with what it says."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ddcompat.shared.images import inspector
from ddcompat.shared.images import registry as registry_mod
from ddcompat.webhook import app as app_mod
from ddcompat.webhook import protocol
from tests.images.conftest import PASSWORD, USER, Layer, Registry, dist_info, layout
from tests.webhook.conftest import PYTHON_APP, review


async def test_a_miss_is_not_waited_on_and_serves_the_next_pod(
    registry: Registry, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    d = tmp_path_factory.mktemp("wh")
    layer = Layer({"usr/local/lib/python3.12/": b"", **dist_info("ddtrace", "1.9.0")})
    image = registry.push(layout(d / "oci", [([layer], [], "amd64")]), "shop/old:3f2a")
    client = registry_mod.Client(
        credentials={registry.host: (USER, PASSWORD)}, ca_file=str(registry.ca_file)
    )
    images = inspector.Inspector(client, cache_dir=tmp_path / "cache")
    app = app_mod.create_app(app_mod.Config(images=images, image_poll_interval=0.05))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        judge = app[app_mod.STATE].judge
        assert judge is not None
        container = copy.deepcopy(PYTHON_APP)
        container["image"] = image
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p1", "namespace": "shop"},
            "spec": {"containers": [container]},
        }
        before = registry.requests_logged()
        first = protocol.review(json.dumps(review(pod)).encode(), judge=judge, mode="enforce")
        # no registry round trip in admission: the image is only queued for the background
        # (an exact check in place of a wall-clock bound, which a loaded machine can miss)
        assert images.lookup(image) is None and any(k[0] == image for k in judge.image_misses)
        assert registry.requests_logged() == before
        assert first.decision == "warned"  # ddtrace unknown: a warning, not a denial
        metrics = app[app_mod.STATE].metrics
        inspected = metrics.inspections.labels("ok")._value
        for _ in range(200):  # the background inspection reads the image, then counts it
            # (the result is cached a moment before the worker counts it: wait for both)
            if images.lookup(image) is not None and inspected.get() >= 1:
                break
            await asyncio.sleep(0.02)
        second = protocol.review(json.dumps(review(pod)).encode(), judge=judge, mode="enforce")
        assert second.decision == "denied"  # ddtrace 1.9.0, read from the image's layers
        assert "DDTRACE_TOO_OLD" in second.body["response"]["status"]["message"]
        assert inspected.get() == 1
    finally:
        await runner.cleanup()


async def test_a_stuck_registry_holds_one_worker_and_shutdown_is_prompt(
    hostile: Any, hostile_certs: Any, tmp_path: Path
) -> None:
    """Issue 23.3: a registry that drips forever never stalls the background inspector
    (later images are still read) nor the app's shutdown."""
    from tests.images.hostile import ddtrace_layer, image

    good = image([ddtrace_layer("1.9.0")])
    hostile.serve_image("shop/good", good)
    hostile.routes["/v2/shop/stuck/manifests/latest"] = lambda h: h.stream(
        iter([b" "] * 100_000), delay=0.5
    )
    client = registry_mod.Client(ca_file=str(hostile_certs.ca_file), timeout=5.0)
    images = inspector.Inspector(client, cache_dir=tmp_path / "cache", deadline=120.0)
    app = app_mod.create_app(app_mod.Config(images=images, image_poll_interval=0.02))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stuck, fine = f"{hostile.host}/shop/stuck:latest", f"{hostile.host}/shop/good:latest"
    try:
        judge = app[app_mod.STATE].judge
        assert judge is not None
        judge.image_misses[(stuck, "linux", "amd64")] = None
        await asyncio.sleep(0.2)  # the stuck one is taken first
        judge.image_misses[(fine, "linux", "amd64")] = None
        for _ in range(250):
            if images.lookup(fine) is not None:
                break
            await asyncio.sleep(0.02)
        assert images.lookup(fine) is not None  # read while the stuck one still drips
        assert images.lookup(stuck) is None
    finally:
        started = asyncio.get_running_loop().time()
        await runner.cleanup()
        took = asyncio.get_running_loop().time() - started
    assert took < 2.0, f"shutdown took {took:.1f} s"
    # the stuck inspection itself ends at its next read, not at its 120 s deadline
    for _ in range(100):
        if not any(t.name.startswith("ddcompat-image") for t in threading.enumerate()):
            break
        await asyncio.sleep(0.05)
    assert not any(t.name.startswith("ddcompat-image") for t in threading.enumerate())
