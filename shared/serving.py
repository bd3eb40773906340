"""What the two server front ends (webhook, scanner) share: the ``/metrics`` answer and
the build-info metric. The only module of ``ddcompat.shared`` that imports aiohttp and
prometheus_client (the pure core imports neither: import-linter contracts).
"""

from __future__ import annotations

import prometheus_client as prom
from aiohttp import web
from prometheus_client import exposition

from ddcompat.shared import about


def register_build_info(registry: prom.CollectorRegistry, component: str) -> None:
    """``ddcompat_build_info{version,component}`` in ``registry``."""
    info = prom.Info("ddcompat_build", "ddcompat build information", registry=registry)
    info.info({"version": about.version(), "component": component})


def metrics_response(request: web.Request, registry: prom.CollectorRegistry) -> web.Response:
    """``registry`` in the format the scraper asks for (Prometheus text, or OpenMetrics
    when its Accept header says so), through the client library's own encoders."""
    encoder, content_type = exposition.choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encoder(registry), headers={"Content-Type": content_type})
