"""What the two server front ends (webhook, scanner) share: the ``/metrics`` answer and
the build-info metric. The only module of ``ddcompat.shared`` that imports aiohttp and
prometheus_client (the pure core imports neither: import-linter contracts).
"""

from __future__ import annotations

import argparse
import logging

import prometheus_client as prom
from aiohttp import web
from prometheus_client import exposition

from ddcompat.shared import about
from ddcompat.shared import matrix as matrix_mod


def register_build_info(registry: prom.CollectorRegistry, component: str) -> None:
    """``ddcompat_build_info{version,component}`` in ``registry``."""
    info = prom.Info("ddcompat_build", "ddcompat build information", registry=registry)
    info.info({"version": about.version(), "component": component})


def register_matrix_info(registry: prom.CollectorRegistry, m: matrix_mod.Matrix) -> None:
    """``ddcompat_matrix_info{name,version,edition,facts_read}`` (one series), and when the
    matrix says the day its release facts were read, ``ddcompat_matrix_facts_read_timestamp_
    seconds`` (midnight UTC of that day: alert on facts older than you accept)."""
    read = m.known.read if m.known is not None else ""
    info = prom.Info("ddcompat_matrix", "the compatibility matrix in force", registry=registry)
    info.info(
        {"name": m.name, "version": m.version, "edition": m.edition or "", "facts_read": read}
    )
    if read:
        import datetime

        day = datetime.datetime.combine(
            datetime.date.fromisoformat(read), datetime.time(), tzinfo=datetime.UTC
        )
        prom.Gauge(
            "ddcompat_matrix_facts_read_timestamp_seconds",
            "when the matrix's facts about the vendor's releases were read (make facts)",
            registry=registry,
        ).set(day.timestamp())


def metrics_response(request: web.Request, registry: prom.CollectorRegistry) -> web.Response:
    """``registry`` in the format the scraper asks for (Prometheus text, or OpenMetrics
    when its Accept header says so), through the client library's own encoders."""
    encoder, content_type = exposition.choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encoder(registry), headers={"Content-Type": content_type})


def add_server_arguments(
    parser: argparse.ArgumentParser,
    *,
    host: str,
    port: int,
    kubeconfig: str,
    events: str,
) -> None:
    """The flags both servers share, declared once: where to listen, the log level, the
    Kubernetes credentials and Events (``kubeconfig`` and ``events``: what each does for
    this server)."""
    parser.add_argument("--host", default=host, help=f"address to listen on (default {host})")
    parser.add_argument("--port", type=int, default=port, help=f"port (default {port})")
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="log level (default INFO)",
    )
    parser.add_argument("--kubeconfig", help=kubeconfig)
    parser.add_argument("--events", action="store_true", help=events)


def setup_logging(args: argparse.Namespace) -> None:
    """One log line format for both servers, at ``--log-level``."""
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
