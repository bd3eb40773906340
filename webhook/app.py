"""The aiohttp adapter: app factory, handlers, health, metrics, TLS reloading, shutdown.

All decisions come from :mod:`ddcompat.webhook.protocol`; this module only turns HTTP
into calls of it and its answers (or typed errors) into HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web, web_protocol

from ddcompat.shared import serving
from ddcompat.shared import settings as settings_mod
from ddcompat.webhook import metrics as metrics_mod
from ddcompat.webhook import protocol, tls

log = logging.getLogger("ddcompat.webhook")


@dataclasses.dataclass
class Config:
    cert: Path | None = None
    key: Path | None = None
    host: str = "0.0.0.0"
    port: int = 8443
    default_mode: protocol.Mode = "enforce"
    settings: settings_mod.Settings = dataclasses.field(
        default_factory=settings_mod.Settings.default
    )
    deadline: float = 0.5
    failure_allow: bool = True
    max_body: int = 3 * 1024 * 1024
    read_timeout: float = 10.0
    cert_poll_interval: float = 10.0
    shutdown_delay: float = 5.0
    shutdown_timeout: float = 30.0
    # judged Pod contents kept for identical Pods (rollouts); 0 turns the cache off
    cache_size: int = 512


@dataclasses.dataclass
class State:
    config: Config
    metrics: metrics_mod.Metrics
    reloader: tls.CertReloader | None
    # this app's evaluator, reader and decision cache (made at start-up, gone with the app)
    judge: protocol.Judge | None = None
    ready: bool = False
    draining: bool = False


STATE = web.AppKey("state", State)


def _error(status: int, message: str) -> web.Response:
    resp = web.Response(
        body=orjson.dumps({"error": message}), status=status, content_type="application/json"
    )
    if status in (408, 413):
        # the rest of the body was never read: close instead of lingering on it
        resp.force_close()
    return resp


async def _read_body(request: web.Request, state: State) -> bytes:
    if request.content_type != "application/json":
        raise protocol.AdmissionError(
            415, f"content type must be application/json, got {request.content_type!r}"
        )
    length = request.content_length
    if length is not None and length > state.config.max_body:
        # said up front: refused at once, never read
        raise protocol.AdmissionError(
            413, f"request body larger than {state.config.max_body} bytes"
        )
    try:
        if request.content.is_eof():
            # the whole body is in already (the usual case): no timer to arm and cancel
            return await request.read()
        async with asyncio.timeout(state.config.read_timeout):
            return await request.read()
    except TimeoutError:
        raise protocol.AdmissionError(408, "timed out reading the request body") from None
    except web.HTTPRequestEntityTooLarge:
        raise protocol.AdmissionError(
            413, f"request body larger than {state.config.max_body} bytes"
        ) from None
    except (aiohttp.ClientPayloadError, web_protocol.RequestPayloadError) as exc:
        # a body that does not decode as its Content-Encoding says (gzip, deflate)
        raise protocol.AdmissionError(400, f"cannot read the request body: {exc}") from None


def _record(state: State, outcome: protocol.Outcome, started: float) -> None:
    m = state.metrics
    m.request(outcome.operation, outcome.decision, outcome.mode).inc()
    m.duration.observe(time.perf_counter() - started)
    if outcome.decision == "dry_run":
        return
    for r in outcome.results:
        if r.exempt_source is not None:
            m.exemption(r.exempt_source).inc()
        elif r.exempt_refused:
            m.exemption("refused").inc()
    for feature, code in outcome.findings:
        m.finding(feature, code).inc()
    if outcome.decision in ("denied", "audited"):
        resp = outcome.body["response"]
        log.info(
            "%s %s uid=%s: %s",
            outcome.decision,
            outcome.mode,
            resp["uid"],
            resp.get("status", {}).get("message")
            or "; ".join(f"{r.workload.id}" for r in outcome.results if not r.compliant),
        )


async def validate(request: web.Request) -> web.Response:
    state = request.app[STATE]
    started = time.perf_counter()
    mode_raw = request.match_info.get("mode", state.config.default_mode)
    if mode_raw not in protocol.MODES:
        return _error(404, f"unknown mode {_printable(mode_raw)!r} (enforce, warn, audit)")
    mode: protocol.Mode = mode_raw
    try:
        if not state.ready or state.judge is None:
            raise protocol.AdmissionError(503, "not ready")
        raw = await _read_body(request, state)
        # the deadline counts from when the body is in (reading it has its own timeout)
        outcome = _review_with_deadline(state, raw, mode, time.perf_counter())
    except protocol.AdmissionError as exc:
        state.metrics.request("unknown", "error", mode).inc()
        log.warning("bad admission request from %s: %s", request.remote, _printable(str(exc)))
        return _error(exc.status, str(exc))
    _record(state, outcome, started)
    return web.Response(body=orjson.dumps(outcome.body), content_type="application/json")


def _printable(text: str, limit: int = 300) -> str:
    """Client-supplied text as one bounded log line."""
    text = text.replace("\n", " ").replace("\r", " ")
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


@web.middleware
async def _count_answers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every answer is counted by handler and status, 404s and 5xxs included; an
    unexpected exception is one log line and a 500, never a silent one."""
    metrics = request.app[STATE].metrics
    name = getattr(request.match_info.route, "name", None) or "other"
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        metrics.answer(name, exc.status).inc()
        raise
    except Exception as exc:  # a bug: answer, count, and say it in one line
        log.error("internal error answering %s %s: %r", request.method, request.path, exc)
        metrics.answer(name, 500).inc()
        return _error(500, "internal error")
    metrics.answer(name, response.status).inc()
    return response


def _review_with_deadline(
    state: State, raw: bytes, mode: protocol.Mode, started: float
) -> protocol.Outcome:
    """Evaluate inline (it takes microseconds per container); between containers the
    review checks the deadline and, past it, the answer follows the failure mode."""
    assert state.judge is not None
    cfg = state.config
    try:
        return protocol.review(
            raw,
            judge=state.judge,
            mode=mode,
            deadline=started + cfg.deadline,
            clock=time.perf_counter,
        )
    except protocol.DeadlineExceeded as exc:
        why = f"evaluation exceeded the {cfg.deadline * 1000:.0f} ms deadline ({exc})"
        log.warning("%s", why)
        return protocol.failure_response(exc, allow=cfg.failure_allow, why=why, mode=mode)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if state.ready and not state.draining:
        return web.Response(text="ready\n")
    return web.Response(text="not ready\n", status=503)


async def metrics(request: web.Request) -> web.Response:
    return serving.metrics_response(request, request.app[STATE].metrics.registry)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Make this app's judge (evaluator, reader, decision cache) and start the cert
    reloader; undo on exit."""
    state = app[STATE]
    cfg = state.config
    settings = cfg.settings
    state.judge = protocol.Judge(
        settings.matrix, settings.policy, as_of=settings.as_of, cache_size=cfg.cache_size
    )
    # Everything loaded so far lives as long as the process: keep it out of the cyclic
    # GC's passes, and collect less often (each review allocates a ~15 KB JSON tree).
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 50)
    reload_task: asyncio.Task[None] | None = None
    if state.reloader is not None:
        reload_task = asyncio.create_task(_watch_certs(state), name="ddcompat-cert-reloader")
    state.ready = True
    try:
        yield
    finally:
        state.ready = False
        if reload_task is not None:
            reload_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reload_task


async def _watch_certs(state: State) -> None:
    assert state.reloader is not None
    while True:
        await asyncio.sleep(state.reloader.interval)
        try:
            result = state.reloader.check()
        except Exception as exc:  # the loop must not end: the current pair keeps serving
            log.error("TLS reload check failed: %r", exc)
            result = "rejected"
        if result is not None:
            state.metrics.tls_reloads.labels(result).inc()


def create_app(config: Config) -> web.Application:
    """The webhook application (production and tests build it here)."""
    reloader = None
    if config.cert is not None and config.key is not None:
        reloader = tls.CertReloader(config.cert, config.key, interval=config.cert_poll_interval)
    # No lingering on unread bodies (408/413 close the connection; nothing to drain).
    app = web.Application(
        client_max_size=config.max_body,
        handler_args={"lingering_time": 0},
        middlewares=[_count_answers],
    )
    app[STATE] = State(
        config=config,
        metrics=metrics_mod.Metrics.create(),
        reloader=reloader,
    )
    app.cleanup_ctx.append(_lifecycle)
    app.router.add_post("/validate", validate, name="validate")
    app.router.add_post("/validate/{mode}", validate, name="validate-mode")
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.router.add_get("/metrics", metrics, name="metrics")
    return app


def _install_sigterm(app: web.Application) -> None:
    """On SIGTERM: fail readiness first, then stop after the shutdown delay; aiohttp
    then lets in-flight requests finish (up to ``shutdown_timeout``)."""
    state = app[STATE]

    async def on_startup(app: web.Application) -> None:
        loop = asyncio.get_running_loop()

        def begin() -> None:
            if state.draining:
                return
            state.draining = True
            log.info("SIGTERM: not ready; stopping in %.1fs", state.config.shutdown_delay)
            loop.call_later(state.config.shutdown_delay, _exit)

        loop.add_signal_handler(signal.SIGTERM, begin)

    app.on_startup.append(on_startup)


def _exit() -> None:
    raise web.GracefulExit()


def serve(config: Config) -> None:
    if config.cert is None or config.key is None:
        raise SystemExit("ddcompat webhook serve: --tls-cert and --tls-key are required (TLS only)")
    app = create_app(config)
    _install_sigterm(app)
    reloader = app[STATE].reloader
    assert reloader is not None
    web.run_app(
        app,
        host=config.host,
        port=config.port,
        ssl_context=reloader.context,
        shutdown_timeout=config.shutdown_timeout,
        access_log=None,
        print=None,
    )
