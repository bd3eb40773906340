"""A real Prometheus (Debian's package) scrapes the scanner; PromQL finds the gaps."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import aiohttp

from tests.scanner.conftest import Service
from tests.tools import free_port


async def query(session: aiohttp.ClientSession, base: str, promql: str) -> list[dict[str, Any]]:
    async with session.get(f"{base}/api/v1/query", params={"query": promql}) as r:
        data = await r.json()
    assert data["status"] == "success", data
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


async def test_prometheus_scrapes_the_gaps(service: Service, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: `make test` installs Debian's prometheus package"
    url, _, _ = await service()
    target = url.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: ddcompat-scanner\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as s:
            gaps: list[dict[str, Any]] = []
            for _ in range(300):
                try:
                    gaps = await query(
                        s, base, 'ddcompat_namespace_gaps{namespace="shop",code="DDTRACE_TOO_OLD"}'
                    )
                except aiohttp.ClientError:
                    gaps = []
                if gaps:
                    break
                await asyncio.sleep(0.1)
            assert gaps, "Prometheus never showed the gap series"
            (g,) = gaps
            assert g["metric"]["feature"] == "threat_protection"
            assert g["metric"]["job"] == "ddcompat-scanner"
            assert g["value"][1] == "1"
            up = await query(s, base, 'up{job="ddcompat-scanner"}')
            assert [u["value"][1] for u in up] == ["1"]
            worst = await query(
                s,
                base,
                'count by (namespace) (ddcompat_workload_feature_status{status="unsupported"})',
            )
            assert {w["metric"]["namespace"]: w["value"][1] for w in worst} == {
                "shop": "1",
                "batch": "1",
                "data": "1",
            }
    finally:
        proc.terminate()
        await proc.wait()
