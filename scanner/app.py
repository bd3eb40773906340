"""The scanner service: an aiohttp app whose background task scans on an interval (with
jitter; one scan at a time) and whose ``/metrics`` renders the last complete snapshot."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import logging
import random
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from ddcompat.scanner import collector, events, reports
from ddcompat.scanner import scan as scan_mod
from ddcompat.shared import html_report, model, report, serving
from ddcompat.shared import judge as judge_mod
from ddcompat.shared import settings as settings_mod
from ddcompat.shared.facts.image import ImageSource
from ddcompat.shared.images import inspector
from ddcompat.shared.sources import kubernetes as kube

log = logging.getLogger("ddcompat.scanner")


@dataclasses.dataclass
class Config:
    options: scan_mod.Options
    interval: float = 300.0
    jitter: float = 0.1
    host: str = "0.0.0.0"
    port: int = 9090
    settings: settings_mod.Settings = dataclasses.field(
        default_factory=settings_mod.Settings.default
    )
    request_timeout: float = 60.0
    # POST /scan: served at all, and the bearer token it needs (None: none)
    trigger_enabled: bool = True
    trigger_token: str | None = None
    # the image inspector (--inspect-images), None: off
    images: inspector.Inspector | None = None
    # PolicyReports: written after each scan with these results (None: off)
    policy_reports: frozenset[str] | None = None
    # Events on workloads with new gaps
    events: bool = False


@dataclasses.dataclass
class State:
    config: Config
    published: collector.Published
    metrics: collector.SelfMetrics
    # this app's evaluator and reader (their caches live as long as the app)
    judging: judge_mod.Judge | None = None
    scans_done: int = 0
    scanning: bool = False
    wake: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    loop: asyncio.Task[None] | None = None
    inspecting: asyncio.Task[None] | None = None  # images read after a scan
    reports: reports.Writer | None = None  # PolicyReports (--policy-reports)
    events: events.Notifier | None = None  # Events for new gaps (--events)
    secrets_read: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    # the page at / of the snapshot it was rendered from (rendered once per snapshot)
    page: tuple[scan_mod.Snapshot, bool, bytes] | None = None  # (snapshot, stale, page)


STATE = web.AppKey("scanner_state", State)


async def run_once(state: State, session: aiohttp.ClientSession | None) -> bool:
    """One scan; on success the new snapshot replaces the old one whole."""
    assert state.judging is not None
    m = state.metrics
    state.scanning = True
    try:
        with m.duration.time():
            snap = await scan_mod.scan(
                session, state.config.options, state.judging, state.published.snapshot
            )
    except kube.ListError as exc:
        return _failed(state, "kubernetes", exc.reason, str(exc))
    except Exception as exc:  # a bug: this scan fails, the loop goes on
        return _failed(state, "scan", "internal", repr(exc))
    finally:
        state.scanning = False
    for e in snap.errors:
        m.errors.labels(e.source, e.reason).inc()
        log.warning("%s: %s", e.source, e.message)
    if snap.dropped_series:
        m.dropped.inc(snap.dropped_series)
        log.warning("series budget: %d per-workload series dropped", snap.dropped_series)
    state.published.snapshot = snap
    state.published.stale = False
    state.scans_done += 1
    if state.reports is not None and session is not None:
        await _write_reports(state, session, snap)
    if state.events is not None and session is not None:
        try:
            written = await state.events.notify(session, snap)
            if written:
                log.info("events: %d workloads have new gaps", written)
        except Exception as exc:  # (counted and logged; the scan stands)
            m.errors.labels("events", "error").inc()
            log.error("events not written: %r", exc)
    if snap.image_misses and state.config.images is not None and state.inspecting is None:
        state.inspecting = asyncio.create_task(
            _inspect(state, snap, session), name="ddcompat-image-inspections"
        )
    m.scans.labels("complete").inc()
    log.info("scan complete: %d workload-containers in %.1fs", len(snap.entries), snap.duration)
    return True


async def _inspect(
    state: State, snap: scan_mod.Snapshot, session: aiohttp.ClientSession | None
) -> None:
    """Read the images a scan did not know (off the event loop), with the pods' pull
    credentials; when any gave facts, the next scan starts now to show them."""
    images = state.config.images
    assert images is not None
    try:
        endpoint = state.config.options.endpoint
        if session is not None and endpoint is not None:
            found = await scan_mod.pull_credentials(session, endpoint, snap, state.secrets_read)
            for host, creds in found.items():
                images.client.credentials.setdefault(host, creds)
        results = await asyncio.to_thread(scan_mod.inspect_misses, images, snap.image_misses)
        for result in results:
            state.metrics.inspections.labels(result).inc()
        log.info("inspected %d images: %s", len(results), ", ".join(sorted(set(results))))
        if any(r == "ok" for r in results):
            state.wake.set()
    except Exception as exc:  # (never quietly: counted and logged, the loop goes on)
        state.metrics.inspections.labels("error").inc()
        log.error("image inspections failed: %r", exc)
    finally:
        state.inspecting = None


async def _write_reports(
    state: State, session: aiohttp.ClientSession, snap: scan_mod.Snapshot
) -> None:
    """PolicyReports of the scan (--policy-reports): a failure is counted and logged, the
    scan stands."""
    assert state.reports is not None
    m = state.metrics
    try:
        applied, deleted = await state.reports.sync(session, snap)
        log.info("policy reports: %d applied, %d deleted", applied, deleted)
    except reports.ReportsUnavailable as exc:
        m.errors.labels("policy_reports", "unavailable").inc()
        log.error("policy reports not written: %s", exc)
    except Exception as exc:
        m.errors.labels("policy_reports", "error").inc()
        log.error("policy reports not written: %r", exc)


def _failed(state: State, source: str, reason: str, message: str) -> bool:
    m = state.metrics
    m.errors.labels(source, reason).inc()
    m.scans.labels("failed").inc()
    state.published.stale = state.published.snapshot is not None
    log.error("scan failed, keeping the previous snapshot: %s", message)
    return False


async def _loop(state: State, session: aiohttp.ClientSession | None) -> None:
    cfg = state.config
    while True:
        # a POST /scan during this scan sets it again: the next scan starts right after
        state.wake.clear()
        await run_once(state, session)
        delay = cfg.interval * (1 + random.uniform(-cfg.jitter, cfg.jitter))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.wake.wait(), delay)


def _loop_ended(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    log.critical("the scan loop ended (%r): /healthz now fails", task.exception())


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    cfg = state.config
    settings = cfg.settings
    if cfg.policy_reports is not None and cfg.options.endpoint is not None:
        state.reports = reports.Writer(cfg.options.endpoint, cfg.policy_reports)
    if cfg.events and cfg.options.endpoint is not None:
        state.events = events.Notifier(cfg.options.endpoint)
    # the app's judge, with the sources of facts this app feeds (the image inspector's
    # caches, filled in the background)
    state.judging = judge_mod.Judge(
        settings.matrix,
        settings.policy,
        as_of=settings.as_of,
        sources=[ImageSource(cfg.images)] if cfg.images is not None else [],
    )
    session = None
    if cfg.options.kubernetes:
        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=cfg.request_timeout),
            connector=aiohttp.TCPConnector(limit=4),
        )
    task = asyncio.create_task(_loop(state, session), name="ddcompat-scan-loop")
    task.add_done_callback(_loop_ended)
    state.loop = task
    try:
        yield
    finally:
        task.cancel()
        # (a loop that ended with an error was logged when it ended)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        if cfg.images is not None:
            cfg.images.close()  # (inspections under way end at their next read)
        if state.inspecting is not None:
            state.inspecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await state.inspecting
        if session is not None:
            await session.close()


async def metrics(request: web.Request) -> web.Response:
    return serving.metrics_response(request, request.app[STATE].metrics.registry)


async def healthz(request: web.Request) -> web.Response:
    """Fails once the scan loop has ended, so Kubernetes restarts the pod."""
    loop = request.app[STATE].loop
    if loop is not None and loop.done():
        return web.Response(text="the scan loop has ended\n", status=500)
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if state.published.snapshot is not None:
        return web.Response(text="ready\n")
    return web.Response(text="no complete scan yet\n", status=503)


def snapshot_run(state: State, snap: scan_mod.Snapshot) -> report.Run:
    """A snapshot as the report a `check` run gives (the HTML page renders it)."""
    return report.Run(
        matrix=state.config.settings.matrix,
        results=[e.result for e in snap.entries.values()],
        errors=[model.InputError(e.source, e.message) for e in snap.errors],
        as_of=state.judging.day() if state.judging is not None else "",
    )


async def page(request: web.Request) -> web.Response:
    """The HTML report of the last complete scan (`check --format html`'s page), rendered
    once per snapshot, off the event loop."""
    state = request.app[STATE]
    snap = state.published.snapshot
    if snap is None:
        return web.Response(text="no complete scan yet\n", status=503)
    stale = state.published.stale
    if state.page is None or state.page[0] is not snap or state.page[1] != stale:
        title = "ddcompat scanner" + (" (stale: the last scan failed)" if stale else "")
        body = await asyncio.to_thread(html_report.render, snapshot_run(state, snap), title=title)
        state.page = (snap, stale, body.encode())
    return web.Response(
        body=state.page[2],
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


async def trigger(request: web.Request) -> web.Response:
    """Start the next scan now (it never overlaps a running one: one asked for during a
    scan runs right after it). Off with ``--scan-endpoint off``; with a token, only for
    ``Authorization: Bearer <token>``."""
    state = request.app[STATE]
    token = state.config.trigger_token
    if token is not None:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return web.Response(text="unauthorized\n", status=401)
    state.wake.set()
    return web.Response(text="scheduled\n", status=202)


def create_app(config: Config) -> web.Application:
    opts = config.options
    published = collector.Published(shard=opts.shard, total_shards=opts.total_shards)
    app = web.Application()
    app[STATE] = State(
        config=config, published=published, metrics=collector.SelfMetrics.create(published)
    )
    serving.register_matrix_info(app[STATE].metrics.registry, config.settings.matrix)
    app.cleanup_ctx.append(_lifecycle)
    app.router.add_get("/", page)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if config.trigger_enabled:
        app.router.add_post("/scan", trigger)
    return app


def serve(config: Config) -> None:
    web.run_app(create_app(config), host=config.host, port=config.port, access_log=None, print=None)
