"""The webhook's self-metrics, in a registry of their own (one per app)."""

from __future__ import annotations

import dataclasses
from typing import Any

import prometheus_client as prom

from ddcompat.shared import serving


@dataclasses.dataclass
class Metrics:
    registry: prom.CollectorRegistry
    requests: prom.Counter
    duration: prom.Histogram
    findings: prom.Counter
    tls_reloads: prom.Counter
    # labelled children by label values: labels() validates and locks on every call,
    # and every review records two or more of them
    _children: dict[tuple[str, ...], Any] = dataclasses.field(default_factory=dict)

    def request(self, operation: str, decision: str, mode: str) -> prom.Counter:
        key = ("r", operation, decision, mode)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.requests.labels(operation, decision, mode)
        return child

    def finding(self, feature: str, code: str) -> prom.Counter:
        key = ("f", feature, code)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.findings.labels(feature, code)
        return child

    @classmethod
    def create(cls) -> Metrics:
        registry = prom.CollectorRegistry()
        serving.register_build_info(registry, "webhook")
        return cls(
            registry=registry,
            requests=prom.Counter(
                "ddcompat_admission_requests",
                "AdmissionReview requests by operation, decision and mode "
                "(decision=error: malformed requests answered with a 4xx)",
                ["operation", "decision", "mode"],
                registry=registry,
            ),
            duration=prom.Histogram(
                "ddcompat_admission_duration_seconds",
                "Time to answer an AdmissionReview, from request to response",
                buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
                registry=registry,
            ),
            findings=prom.Counter(
                "ddcompat_admission_findings",
                "Findings of warning or error severity in admitted or denied pods",
                ["feature", "code"],
                registry=registry,
            ),
            tls_reloads=prom.Counter(
                "ddcompat_webhook_tls_reloads",
                "Times the serving certificate was reloaded from its files",
                registry=registry,
            ),
        )
