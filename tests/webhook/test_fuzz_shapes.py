"""Admission work stays linear in the review's size (issue 23.4): reviews of many shapes
(containers x per-container annotations x value sizes), each a noncompliant workload, sent
to `ddcompat webhook serve` over real TLS with the chart's deadline. Every answer is a
200 that denies: never a 5xx, never an admission "per the failure mode" because our own
work took too long; and the server's peak RSS stays under the chart's memory limit."""

from __future__ import annotations

import json
import os
import signal
import ssl
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tools import chart_values, wait_ready, webhook_memory_limit
from tests.webhook.conftest import review
from tests.webhook.test_serve import request, start

DEADLINE_MS = str(chart_values()["webhook"]["deadlineMs"])
LIMIT, LIMIT_MIB = webhook_memory_limit()  # e.g. 160Mi
MAX_BODY = 3 << 20
EXAMPLES = 40


@st.composite
def shapes(draw: st.DrawFn) -> dict[str, Any]:
    containers = draw(st.sampled_from([1, 3, 50, 500, 2000, 6000]))
    per_container = draw(
        st.lists(
            st.sampled_from(["ddtrace-version", "frameworks", "features", "python-version"]),
            unique=True,
            max_size=4,
        )
    )
    size = draw(st.sampled_from([4, 64, 1024, 4096]))
    general = draw(st.booleans())
    return {
        "containers": containers,
        "per_container": per_container,
        "size": size,
        "general": general,
        "seed": draw(st.integers(0, 10**6)),
    }


def build(shape: dict[str, Any]) -> bytes | None:
    """A Deployment whose first container is noncompliant (ddtrace 1.2.0 with AppSec on);
    None when the shape is larger than the API server would send."""
    n, size, seed = shape["containers"], shape["size"], shape["seed"]
    ann: dict[str, str] = {"ddcompat.io/ddtrace-version": "1.2.0"} if shape["general"] else {}
    values = {
        "ddtrace-version": "1.2.0",
        "python-version": "3.11",
        "features": ",".join(["threat_detection"] * max(1, size // 20))[:1024],
        "frameworks": ",".join(f"django==3.2.{seed + j}" for j in range(max(1, size // 18)))[
            :4096
        ].rstrip(",="),
    }
    containers = []
    for c in range(n):
        for key in shape["per_container"]:
            ann[f"ddcompat.io/c{c}.{key}"] = values[key]
        containers.append(
            {
                "name": f"c{c}",
                "image": "python:3.11",
                "env": [{"name": "DD_APPSEC_ENABLED", "value": "true"}],
            }
        )
    # the first container is judged noncompliant whatever else the shape says
    ann["ddcompat.io/c0.ddtrace-version"] = "1.2.0"
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"fuzz-{seed}", "namespace": "shop"},
        "spec": {
            "template": {"metadata": {"annotations": ann}, "spec": {"containers": containers}}
        },
    }
    r = review(obj, kind="Deployment")
    r["request"]["kind"] = {"group": "apps", "version": "v1", "kind": "Deployment"}
    r["request"]["resource"] = {"group": "apps", "version": "v1", "resource": "deployments"}
    body = json.dumps(r).encode()
    return body if len(body) <= MAX_BODY else None


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_reviews_of_every_shape_are_denied_in_time_within_the_memory_limit(
    cert_files: tuple[Path, Path],
    client_ssl: ssl.SSLContext,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    log = (tmp_path / "webhook.log").open("wb")
    proc, port = start(
        cert_files,
        "--deadline-ms",
        DEADLINE_MS,
        "--shutdown-delay",
        "0",
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        output=log,
    )
    tried: list[tuple[int, int]] = []
    try:
        wait_ready(f"https://127.0.0.1:{port}/readyz", context=client_ssl, proc=proc)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(shapes())
        def one(shape: dict[str, Any]) -> None:
            body = build(shape)
            if body is None:
                return
            status, raw = request(
                port,
                client_ssl,
                "POST",
                "/validate",
                body,
                {"Content-Type": "application/json"},
            )
            tried.append((shape["containers"], len(body)))
            assert status == 200, (shape, raw[:300])
            answer = json.loads(raw)["response"]
            assert answer["allowed"] is False, (shape, answer)
            assert "per the failure mode" not in json.dumps(answer), (shape, answer)

        try:
            one()
        except BaseException:
            print((tmp_path / "webhook.log").read_text()[-3000:])
            raise
        peak = peak_rss_mib(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    with capsys.disabled():
        print(
            f"\nfuzz (admission shapes): {len(tried)} reviews, up to "
            f"{max(c for c, _ in tried)} containers and {max(b for _, b in tried) >> 10} KiB; "
            f"peak RSS {peak:.0f} MiB (limit {LIMIT})"
        )
    assert len(tried) >= EXAMPLES // 2
    assert peak < LIMIT_MIB, f"peak RSS {peak:.0f} MiB over the chart's limit {LIMIT}"
