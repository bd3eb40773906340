"""The webhook's self-metrics, in a registry of their own (one per app)."""

from __future__ import annotations

import dataclasses
from typing import Any

import prometheus_client as prom

from ddcompat.shared import codes, model, serving

# ("unknown": a request too malformed to say)
OPERATIONS = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT", "unknown"})
HANDLERS = frozenset({"validate", "healthz", "readyz", "metrics"})
KINDS = frozenset(
    {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Rollout"}
)
STATUSES = frozenset({200, 400, 404, 405, 408, 413, 415, 500, 503})


@dataclasses.dataclass
class Metrics:
    registry: prom.CollectorRegistry
    requests: prom.Counter
    duration: prom.Histogram
    findings: prom.Counter
    tls_reloads: prom.Counter
    exemptions: prom.Counter
    inspections: prom.Counter
    answers: prom.Counter
    events: prom.Counter
    # labelled children by label values: labels() validates and locks on every call,
    # and every review records two or more of them
    _children: dict[tuple[str, ...], Any] = dataclasses.field(default_factory=dict)

    def request(self, operation: str, decision: str, mode: str, kind: str = "Pod") -> prom.Counter:
        # label values come from fixed sets: anything a client sends is "other"
        if operation not in OPERATIONS:
            operation = "other"
        if kind not in KINDS:
            kind = "other"
        key = ("r", operation, decision, mode, kind)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.requests.labels(operation, decision, mode, kind)
        return child

    def finding(self, feature: str, code: str, kind: str = "Pod") -> prom.Counter:
        if feature not in model.FEATURES:
            feature = "other"
        if code not in codes.BY_CODE:
            code = "other"
        if kind not in KINDS:
            kind = "other"
        key = ("f", feature, code, kind)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.findings.labels(feature, code, kind)
        return child

    def exemption(self, source: str) -> prom.Counter:
        """Exempt containers by where the exemption came from (annotation, policy), and
        self-exemptions the policy refused (refused)."""
        key = ("e", source)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.exemptions.labels(source)
        return child

    def inspection(self, result: str) -> prom.Counter:
        """Images read in the background (--inspect-images), by result."""
        key = ("i", result)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.inspections.labels(result)
        return child

    def event(self, result: str) -> prom.Counter:
        """Events on judged workloads (--events), by result (webhook_events.RESULTS)."""
        key = ("v", result)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.events.labels(result)
        return child

    def answer(self, handler: str, status: int) -> prom.Counter:
        """The counter of HTTP answers of a handler (route name) with a status."""
        handler = handler.removesuffix("-mode")
        if handler not in HANDLERS:
            handler = "other"
        code = str(status) if status in STATUSES else "other"
        key = ("a", handler, code)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.answers.labels(handler, code)
        return child

    @classmethod
    def create(cls) -> Metrics:
        registry = prom.CollectorRegistry()
        serving.register_build_info(registry, "webhook")
        return cls(
            registry=registry,
            requests=prom.Counter(
                "ddcompat_admission_requests",
                "AdmissionReview requests by operation, decision, mode and kind (Pod, or the "
                "workload judged at apply time; decision=error: malformed requests answered "
                "with a 4xx)",
                ["operation", "decision", "mode", "kind"],
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
                "Findings of warning or error severity in admitted or denied pods and "
                "workloads, by the kind judged (a workload and its Pods are told apart)",
                ["feature", "code", "kind"],
                registry=registry,
            ),
            tls_reloads=prom.Counter(
                "ddcompat_webhook_tls_reloads",
                "Checks that found new TLS files, by result: loaded (swapped in), rejected "
                "(not a matching pair: the last good pair keeps serving), unreadable",
                ["result"],
                registry=registry,
            ),
            exemptions=prom.Counter(
                "ddcompat_admission_exemptions",
                "Containers admitted as exempt, by source (annotation: ddcompat.io/exempt; "
                "policy: a policy rule), and self-exemptions the policy refused (refused)",
                ["source"],
                registry=registry,
            ),
            inspections=prom.Counter(
                "ddcompat_image_inspections",
                "Images read from their registry after admission missed them "
                "(--inspect-images), by result",
                ["result"],
                registry=registry,
            ),
            answers=prom.Counter(
                "ddcompat_http_responses",
                "Every HTTP answer, by handler and status (404s and 5xxs included)",
                ["handler", "code"],
                registry=registry,
            ),
            events=prom.Counter(
                "ddcompat_admission_events",
                "Events on judged workloads (--events), by result: written, failed (the API "
                "refused or was unreachable), dropped (queue full), limited (one per workload "
                "per interval)",
                ["result"],
                registry=registry,
            ),
        )
