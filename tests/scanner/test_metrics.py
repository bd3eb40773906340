"""The scanner service: /metrics renders the last complete snapshot (no stale series,
stale flag on failure), labels stay bounded, promtool accepts the exposition."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import aiohttp
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ddcompat.scanner import app as app_mod
from ddcompat.scanner import collector
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import serving
from tests.scanner.conftest import Service, fleet, wait_scans
from tests.scanner.fake_apiserver import Faults, pod


async def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/metrics") as r:
        text = await r.text()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def series(
    m: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> list[float]:
    return [v for lab, v in m.get(name, []) if all(lab.get(k) == x for k, x in labels.items())]


async def test_metrics_after_a_scan(service: Service) -> None:
    url, _, _ = await service()
    m = await scrape(url)
    assert series(m, "ddcompat_matrix_info", edition="seed", facts_read="") == [1.0]
    assert series(
        m,
        "ddcompat_workload_feature_status",
        namespace="shop",
        workload="api",
        kind="Deployment",
        container="app",
        feature="threat_protection",
        status="unsupported",
    ) == [1.0]
    assert series(
        m,
        "ddcompat_namespace_gaps",
        namespace="shop",
        feature="threat_protection",
        code="DDTRACE_TOO_OLD",
    ) == [1.0]
    assert series(
        m,
        "ddcompat_namespace_gaps",
        namespace="batch",
        feature="threat_detection",
        code="PLATFORM_UNSUPPORTED",
    ) == [1.0]
    info = series(
        m,
        "ddcompat_workload_info",
        workload="api",
        ddtrace_version="1.9",
        python_version="3.11",
        deployment_type="kubernetes",
    )
    assert info == [1.0]
    assert series(m, "ddcompat_scanned_workloads") == [30.0]
    # where the facts came from: every workload-container once per fact, by source
    for fact in ("ddtrace", "python"):
        assert sum(series(m, "ddcompat_namespace_fact_sources", fact=fact)) == 30.0
    assert series(
        m, "ddcompat_namespace_fact_sources", namespace="shop", fact="ddtrace", source="annotation"
    ) == [2.0]  # api and web, both annotated
    # verdicts: every workload-container once, every verdict named per namespace
    assert sum(series(m, "ddcompat_namespace_verdicts")) == 30.0
    assert (
        series(m, "ddcompat_namespace_verdicts", namespace="shop", verdict="noncompliant")[0] >= 1
    )
    assert len(series(m, "ddcompat_namespace_verdicts", namespace="shop")) == 4
    assert series(m, "ddcompat_snapshot_stale") == [0.0]
    assert series(m, "ddcompat_scan_last_success_timestamp_seconds")[0] > 1.7e9
    assert series(m, "ddcompat_scan_duration_seconds_count") == [1.0]
    assert series(m, "ddcompat_shard_info", shard="0", total_shards="1") == [1.0]
    # never pod names
    assert not any("pod-1" in str(lab) for samples in m.values() for lab, _ in samples)


async def test_gone_workloads_leave_no_series_and_failures_keep_the_snapshot(
    service: Service,
) -> None:
    url, app, fake = await service()
    fake.objects["pods"] = [
        p for p in fake.objects["pods"] if p["metadata"]["namespace"] != "batch"
    ]
    app[app_mod.STATE].wake.set()
    await wait_scans(app, 2)
    m = await scrape(url)
    assert series(m, "ddcompat_workload_feature_status", namespace="batch") == []
    assert series(m, "ddcompat_namespace_gaps", namespace="batch") == []
    # now the pod listing is refused: the last good snapshot stays, marked stale
    fake.faults = Faults(forbidden=frozenset({"pods"}))
    app[app_mod.STATE].wake.set()
    await wait_scans(app, 1, "failed")
    m = await scrape(url)
    assert series(m, "ddcompat_snapshot_stale") == [1.0]
    assert series(m, "ddcompat_scanned_workloads") == [29.0]
    assert series(m, "ddcompat_scan_errors_total", source="kubernetes", reason="forbidden") == [1.0]
    async with aiohttp.ClientSession() as s, s.get(f"{url}/readyz") as r:
        assert r.status == 200


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("1.20.3", "1.20"),
        ("v2.6.1", "2.6"),
        ("~=1.20", "range"),
        ("v1", "range"),
        (None, "unknown"),
        ("1.2.3<script>", "other"),
        ("x" * 300, "other"),
        ("99999.1.1", "other"),
    ],
)
def test_version_labels_are_bounded(raw: str | None, label: str) -> None:
    assert collector.ddtrace_label(raw) == label


async def test_attacker_annotations_mint_no_labels(service: Service) -> None:
    objects = fleet(filler=0)
    objects["pods"] += [
        pod(500 + i, namespace="evil", ddtrace=f"1.{i}.{i}-evil{i}") for i in range(40)
    ]
    url, _, _ = await service(objects)
    m = await scrape(url)
    values = {lab["ddtrace_version"] for lab, _ in m["ddcompat_workload_info"]}
    assert values <= {"1.9", "1.20", "other", "unknown", "range"}


def test_the_day_of_the_current_facts_is_a_timestamp_to_alert_on() -> None:
    registry = prometheus_client.CollectorRegistry()
    serving.register_matrix_info(registry, matrix_mod.load(edition="current"))
    text = prometheus_client.generate_latest(registry).decode()
    assert 'facts_read="2026-12-08"' in text and 'edition="current"' in text
    [family] = [
        f
        for f in text_string_to_metric_families(text)
        if f.name == "ddcompat_matrix_facts_read_timestamp_seconds"
    ]
    assert family.samples[0].value == 1796688000.0  # 2026-12-08T00:00:00Z


def test_promtool_accepts_the_exposition_before_any_scan() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: `make test` installs Debian's prometheus package"
    metrics = collector.SelfMetrics.create(collector.Published())
    out = subprocess.run(
        [promtool, "check", "metrics"],
        input=prometheus_client.generate_latest(metrics.registry),
        capture_output=True,
    )
    assert out.returncode == 0, out.stderr.decode() + out.stdout.decode()


async def test_promtool_accepts_a_full_exposition(service: Service) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: `make test` installs Debian's prometheus package"
    url, _, _ = await service()
    async with aiohttp.ClientSession() as s, s.get(f"{url}/metrics") as r:
        body = await r.read()
    proc = await asyncio.create_subprocess_exec(
        promtool,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate(body)
    assert proc.returncode == 0, out.decode()
