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
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web, web_protocol

from ddcompat.shared import serving
from ddcompat.shared import settings as settings_mod
from ddcompat.shared.images import inspector
from ddcompat.shared.sources import kubernetes as kube
from ddcompat.shared.text import printable
from ddcompat.webhook import events as events_mod
from ddcompat.webhook import metrics as metrics_mod
from ddcompat.webhook import protocol, tls

log = logging.getLogger("ddcompat.webhook")


class _OneLine(logging.Filter):
    """aiohttp logs a malformed request (bad request line, bad header) with its
    traceback: from any client, that is one warning line naming the problem."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            exc = record.exc_info[1]
            record.msg, record.args = f"{record.getMessage()}: {_printable(repr(exc))}", ()
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


# the logger of aiohttp's connection handlers (bad HTTP from clients)
http_log = logging.getLogger("ddcompat.webhook.http")
http_log.addFilter(_OneLine())


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
    keepalive_timeout: float = 75.0
    cert_poll_interval: float = 10.0
    shutdown_delay: float = 5.0
    shutdown_timeout: float = 30.0
    # judged Pod contents kept for identical Pods (rollouts); 0 turns the cache off
    cache_size: int = 512
    # the image inspector (--inspect-images; admission only reads its caches)
    images: inspector.Inspector | None = None
    image_poll_interval: float = 0.5
    # Events on judged workloads (--events): written with these API credentials
    events: kube.Endpoint | None = None
    events_interval: float = 600.0


@dataclasses.dataclass
class State:
    config: Config
    metrics: metrics_mod.Metrics
    reloader: tls.CertReloader | None
    # this app's evaluator, reader and decision cache (made at start-up, gone with the app)
    judge: protocol.Judge | None = None
    ready: bool = False
    draining: bool = False
    announcer: events_mod.Announcer | None = None


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
    m.request(outcome.operation, outcome.decision, outcome.mode, outcome.kind).inc()
    m.duration.observe(time.perf_counter() - started)
    if outcome.decision == "dry_run":
        return
    for r in outcome.results:
        if r.exempt_source is not None:
            m.exemption(r.exempt_source).inc()
        elif r.exempt_refused:
            m.exemption("refused").inc()
    for feature, code in outcome.findings:
        m.finding(feature, code, outcome.kind).inc()
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
        state.metrics.request("unknown", "error", mode, "other").inc()
        log.warning("bad admission request from %s: %s", request.remote, _printable(str(exc)))
        return _error(exc.status, str(exc))
    _record(state, outcome, started)
    if state.announcer is not None:
        offered = state.announcer.offer(outcome)
        if offered is not None:
            state.metrics.event(offered).inc()
    return web.Response(body=orjson.dumps(outcome.body), content_type="application/json")


def _printable(text: str, limit: int = 300) -> str:
    """Client-supplied text as one bounded log line."""
    text = printable(text)
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
        settings.matrix,
        settings.policy,
        as_of=settings.as_of,
        cache_size=cfg.cache_size,
        images=cfg.images,
    )
    # Everything loaded so far lives as long as the process: keep it out of the cyclic
    # GC's passes, and collect less often (each review allocates a ~15 KB JSON tree).
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 50)
    tasks: list[asyncio.Task[None]] = []
    if state.reloader is not None:
        tasks.append(asyncio.create_task(_watch_certs(state), name="ddcompat-cert-reloader"))
    if cfg.images is not None:
        tasks.append(asyncio.create_task(_inspect_images(state), name="ddcompat-images"))
    session: aiohttp.ClientSession | None = None
    if cfg.events is not None:
        session = aiohttp.ClientSession()
        state.announcer = events_mod.Announcer(cfg.events, min_interval=cfg.events_interval)
        tasks.append(
            asyncio.create_task(
                state.announcer.run(session, lambda r: state.metrics.event(r).inc()),
                name="ddcompat-events",
            )
        )
    state.ready = True
    try:
        yield
    finally:
        state.ready = False
        if cfg.images is not None:
            cfg.images.close()  # (inspections under way end at their next read)
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if session is not None:
            await session.close()


# images inspected at once in the background (each in a thread of its own pool)
INSPECT_WORKERS = 4


async def _inspect_images(state: State) -> None:
    """Read the images admission did not know, off the event loop, at most
    :data:`INSPECT_WORKERS` at a time: an image whose registry hangs holds one worker
    until its deadline while the others go on. Their facts then serve the next pod of the
    same image. Never ends on an error; on cancel, stops the inspector (inspections under
    way end at their next read) and does not wait for them."""
    from concurrent.futures import ThreadPoolExecutor

    judge = state.judge
    assert judge is not None and judge.images is not None
    images = judge.images
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=INSPECT_WORKERS, thread_name_prefix="ddcompat-image")
    running: set[asyncio.Future[str]] = set()

    def done(fut: asyncio.Future[str]) -> None:
        running.discard(fut)
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:  # counted and logged; the others go on
            log.error("image inspection failed: %r", exc)
        state.metrics.inspection("error" if exc is not None else fut.result()).inc()

    try:
        while True:
            await asyncio.sleep(state.config.image_poll_interval)
            while judge.image_misses and len(running) < INSPECT_WORKERS:
                key = next(iter(judge.image_misses))
                judge.image_misses.pop(key, None)
                fut = loop.run_in_executor(pool, _inspect_one, images, key)
                running.add(fut)
                fut.add_done_callback(done)
    finally:
        images.close()
        pool.shutdown(wait=False, cancel_futures=True)


def _inspect_one(images: inspector.Inspector, key: tuple[str, str, str]) -> str:
    return images.inspect(*key).result


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
    app = web.Application(
        client_max_size=config.max_body,
        # no lingering on unread bodies; idle keep-alive connections closed after a minute
        handler_args={
            "lingering_time": 0,
            "keepalive_timeout": config.keepalive_timeout,
            "logger": http_log,
        },
        middlewares=[_count_answers],
    )
    app[STATE] = State(
        config=config,
        metrics=metrics_mod.Metrics.create(),
        reloader=reloader,
    )
    serving.register_matrix_info(app[STATE].metrics.registry, config.settings.matrix)
    app.cleanup_ctx.append(_lifecycle)
    app.router.add_post("/validate", validate, name="validate")
    app.router.add_post("/validate/{mode}", validate, name="validate-mode")
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.router.add_get("/metrics", metrics, name="metrics")
    return app


class _HeadGuard(asyncio.Protocol):
    """Stands between the TLS transport and aiohttp's request handler of one connection:
    a connection whose first request head (request line and headers) is not complete
    within ``timeout`` is closed (aiohttp itself waits on a half-sent head for ever). Idle
    keep-alive connections are aiohttp's ``keepalive_timeout``; bodies have their own
    read timeout (408)."""

    __slots__ = ("_inner", "_tail", "_timeout", "_timer", "_transport")

    def __init__(self, inner: asyncio.Protocol, timeout: float) -> None:
        self._inner, self._timeout = inner, timeout
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.BaseTransport | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_later(self._timeout, self._expire)
        self._inner.connection_made(transport)

    def _expire(self) -> None:
        self._timer = None
        transport = self._transport
        if isinstance(transport, asyncio.Transport) and not transport.is_closing():
            log.info("closing a connection whose request head did not arrive in time")
            transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            seen = self._tail + data[:65536]
            if b"\r\n\r\n" in seen:
                self._timer.cancel()
                self._timer = None
            else:
                self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class TLSSite(web.TCPSite):
    """aiohttp's TCP site, with the bounds a listener on the cluster network needs: the
    TLS handshake and the first request head each must finish within ``timeout`` (a
    connection that never starts TLS, or sends half a head, is dropped)."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext,
        timeout: float,
    ) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context)
        self._timeout = timeout

    async def start(self) -> None:
        # (what TCPSite.start does, plus the handshake timeout and the head guard)
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        timeout = self._timeout

        def guarded() -> asyncio.Protocol:
            return _HeadGuard(server(), timeout)

        self._server = await asyncio.get_running_loop().create_server(
            guarded,
            self._host,
            self._port,
            ssl=self._ssl_context,
            ssl_handshake_timeout=timeout,
            reuse_address=True,
        )


def serve(config: Config) -> None:
    if config.cert is None or config.key is None:
        raise SystemExit("ddcompat webhook serve: --tls-cert and --tls-key are required (TLS only)")
    asyncio.run(_serve(config))


async def _serve(config: Config) -> None:
    """The server process: aiohttp's runner (graceful cleanup: stop listening, let
    in-flight requests finish up to ``shutdown_timeout``, run the app's cleanup) with a
    :class:`TLSSite`. On SIGTERM: fail readiness first, stop after ``shutdown_delay``."""
    app = create_app(config)
    state = app[STATE]
    reloader = state.reloader
    assert reloader is not None
    runner = web.AppRunner(
        app, access_log=None, shutdown_timeout=config.shutdown_timeout, handle_signals=False
    )
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def drain() -> None:
        if state.draining:
            return
        state.draining = True
        log.info("SIGTERM: not ready; stopping in %.1fs", config.shutdown_delay)
        loop.call_later(config.shutdown_delay, stop.set)

    loop.add_signal_handler(signal.SIGTERM, drain)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        site = TLSSite(
            runner,
            config.host,
            config.port,
            ssl_context=reloader.context,
            timeout=config.read_timeout,
        )
        await site.start()
        await stop.wait()
    finally:
        await runner.cleanup()
