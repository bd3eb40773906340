"""Prometheus exposition of the last complete scan snapshot.

A custom Collector renders the snapshot in force at scrape time, so a workload that has
gone away leaves no stale series behind. Label values are bounded: versions are cut to
``major.minor`` buckets (an annotation may say anything), status/feature/code come from
fixed sets, names are Kubernetes object names.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Iterator

import prometheus_client as prom
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from ddcompat.scanner import scan as scan_mod
from ddcompat.shared import model, serving, versions

_DDTRACE = re.compile(r"^v?(\d{1,2})\.(\d{1,3})(?:\.\d+)?$")


def ddtrace_label(raw: str | None) -> str:
    """``1.20.3`` -> ``1.20``; ranges -> ``range``; nothing -> ``unknown``; junk -> ``other``."""
    if raw is None:
        return "unknown"
    m = _DDTRACE.match(raw.strip())
    if m:
        return f"{int(m.group(1))}.{int(m.group(2))}"
    try:
        iv = versions.parse_range(raw)
    except versions.VersionSyntaxError:
        return "other"
    return "other" if iv.exact is not None else "range"


def python_label(raw: str | None) -> str:
    if raw is None:
        return "unknown"
    pm = versions.python_minor(raw)
    if pm is None or pm[0] not in (2, 3) or pm[1] > 30:
        return "other"
    return f"{pm[0]}.{pm[1]}"


@dataclasses.dataclass
class Published:
    """What the scan loop publishes for the collector: the snapshot is swapped whole,
    never mutated."""

    snapshot: scan_mod.Snapshot | None = None
    stale: bool = False
    shard: int = 0
    total_shards: int = 1


class SnapshotCollector(Collector):
    def __init__(self, published: Published) -> None:
        self.published = published

    def describe(self) -> list[prom.Metric]:
        return []  # rendered per scrape; not checked at registration

    def collect(self) -> Iterator[prom.Metric]:
        published = self.published
        snap = published.snapshot
        shard = InfoMetricFamily("ddcompat_shard", "This scanner's shard of the fleet")
        shard.add_metric(
            [], {"shard": str(published.shard), "total_shards": str(published.total_shards)}
        )
        yield shard
        stale = GaugeMetricFamily(
            "ddcompat_snapshot_stale",
            "1 when the last scan failed and the metrics show an older complete scan",
        )
        stale.add_metric([], 1.0 if published.stale else 0.0)
        yield stale
        if snap is None:
            return
        last = GaugeMetricFamily(
            "ddcompat_scan_last_success_timestamp_seconds",
            "Unix time at which the snapshot shown completed",
        )
        last.add_metric([], snap.completed_at)
        yield last
        count = GaugeMetricFamily(
            "ddcompat_scanned_workloads", "Workload-containers in the snapshot shown"
        )
        count.add_metric([], float(len(snap.entries)))
        yield count
        dropped = GaugeMetricFamily(
            "ddcompat_snapshot_dropped_series",
            "Per-workload series left out of the snapshot shown by the series budget",
        )
        dropped.add_metric([], float(snap.dropped_series))
        yield dropped
        carried = GaugeMetricFamily(
            "ddcompat_snapshot_carried_workloads",
            "Workload-containers shown as of an earlier scan because their descriptor file"
            " failed to read in the last one",
        )
        carried.add_metric([], float(snap.carried))
        yield carried
        labels = ["namespace", "workload", "kind", "container"]
        status = GaugeMetricFamily(
            "ddcompat_workload_feature_status",
            "1 for the status of each feature a workload-container uses or must support",
            labels=[*labels, "feature", "status"],
        )
        winfo = GaugeMetricFamily(
            "ddcompat_workload_info",
            "Facts of each workload-container (versions cut to major.minor)",
            labels=[*labels, "ddtrace_version", "python_version", "deployment_type"],
        )
        gaps: collections.Counter[tuple[str, str, str]] = collections.Counter()
        sources: collections.Counter[tuple[str, str, str]] = collections.Counter()
        verdicts: collections.Counter[tuple[str, str]] = collections.Counter(
            {(ns, v): 0 for ns in {k[0] for k in snap.entries} for v in model.VERDICTS}
        )
        for (ns, kind, name, container), entry in snap.entries.items():
            base = [ns, name, kind, container]
            facts = entry.result.workload.facts
            verdicts[(ns, entry.result.verdict())] += 1
            sources[(ns, "ddtrace", facts.sources.ddtrace or "unknown")] += 1
            sources[(ns, "python", facts.sources.python or "unknown")] += 1
            winfo.add_metric(
                [
                    *base,
                    ddtrace_label(facts.ddtrace),
                    python_label(facts.python),
                    facts.deployment_type,
                ],
                1.0,
            )
            for feature, st in entry.statuses:
                status.add_metric([*base, feature, st], 1.0)
            if entry.result.exempt is not None:
                continue
            for feature, fr in entry.result.features.items():
                for code in {r.code for r in fr.reasons if r.severity != "info"}:
                    gaps[(ns, feature, code)] += 1
        yield status
        yield winfo
        yield _counted(
            "ddcompat_namespace_gaps",
            "Workload-containers per namespace with a warning or error finding,"
            " by feature and code",
            ["namespace", "feature", "code"],
            gaps,
        )
        yield _counted(
            "ddcompat_namespace_verdicts",
            "Workload-containers per namespace by verdict (compliant, noncompliant: an "
            "error finding, unverified: a feature could not be decided, exempt)",
            ["namespace", "verdict"],
            verdicts,
        )
        yield _counted(
            "ddcompat_namespace_fact_sources",
            "Workload-containers per namespace by where their ddtrace or Python version came "
            "from (annotation, env, image_tag, image_config, image_layers, lambda_layer, ...; "
            "unknown: judged without it)",
            ["namespace", "fact", "source"],
            sources,
        )


def _counted(
    name: str,
    doc: str,
    labels: list[str],
    counts: collections.Counter[tuple[str, str, str]] | collections.Counter[tuple[str, str]],
) -> GaugeMetricFamily:
    """A gauge family with one series per counted label tuple, in sorted order."""
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, n in sorted(counts.items()):
        family.add_metric(list(values), float(n))
    return family


@dataclasses.dataclass
class SelfMetrics:
    registry: prom.CollectorRegistry
    duration: prom.Histogram
    errors: prom.Counter
    dropped: prom.Counter
    scans: prom.Counter
    inspections: prom.Counter

    @classmethod
    def create(cls, published: Published) -> SelfMetrics:
        registry = prom.CollectorRegistry()
        serving.register_build_info(registry, "scanner")
        registry.register(SnapshotCollector(published))
        return cls(
            registry=registry,
            duration=prom.Histogram(
                "ddcompat_scan_duration_seconds",
                "Duration of complete scans",
                buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
                registry=registry,
            ),
            errors=prom.Counter(
                "ddcompat_scan_errors",
                "Scan problems by source and reason",
                ["source", "reason"],
                registry=registry,
            ),
            dropped=prom.Counter(
                "ddcompat_series_dropped",
                "Per-workload series dropped by the series budget, summed over scans",
                registry=registry,
            ),
            scans=prom.Counter(
                "ddcompat_scans",
                "Scans by result",
                ["result"],
                registry=registry,
            ),
            inspections=prom.Counter(
                "ddcompat_image_inspections",
                "Images read from their registry (--inspect-images), by result: ok, or why "
                "their facts stay unknown (too_large, corrupt, unreachable, unauthorized, "
                "not_found, rate_limited, bad_manifest, bad_reference, timeout, error)",
                ["result"],
                registry=registry,
            ),
        )
