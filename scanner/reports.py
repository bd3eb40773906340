"""PolicyReports (``wgpolicyk8s.io/v1alpha2``, the CRD of kubernetes-sigs/wg-policy-
prototypes that Kyverno installs and Policy Reporter shows): one per cluster workload in
its namespace, owned by the workload (``ownerReferences``: it goes away with it), results
per container and feature. Written by server-side apply only when changed; reports of
workloads that left the scan are deleted. Bare pods (no controller to own a report) get
none.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from typing import Any

import aiohttp
import orjson

from ddcompat.scanner import scan as scan_mod
from ddcompat.shared import model
from ddcompat.shared.sources import kubernetes as kube

log = logging.getLogger("ddcompat.scanner.reports")

GROUP_VERSION = "wgpolicyk8s.io/v1alpha2"
PLURAL = "policyreports"
MANAGER = "ddcompat"
MANAGED = {"app.kubernetes.io/managed-by": "ddcompat"}
RESULTS = ("pass", "fail", "warn", "skip")
# our status -> the report's result; our severity -> its severity (high, medium, low)
_RESULT = {"supported": "pass", "unsupported": "fail", "unknown": "warn", "preview": "warn"}
_SEVERITY = {"error": "high", "warning": "medium", "info": "low"}


class ReportsUnavailable(Exception):
    """The PolicyReport CRD is not installed (or the scanner may not use it)."""


def report_name(kind: str, name: str) -> str:
    """``ddcompat-<kind>-<name>``, a valid object name (long names cut with a hash)."""
    raw = f"ddcompat-{kind.lower()}-{name}"
    raw = re.sub(r"[^a-z0-9.-]", "-", raw.lower())
    if len(raw) <= 253:
        return raw
    return raw[:240] + "-" + hashlib.sha256(raw.encode()).hexdigest()[:12]


def _result(r: model.WorkloadResult, feature: str, fr: model.FeatureResult) -> dict[str, Any]:
    f = r.workload.facts
    result = "skip" if r.exempt is not None else _RESULT.get(fr.status, "warn")
    worst = model.max_severity({feature: fr})
    out: dict[str, Any] = {
        "policy": "ddcompat",
        "rule": feature,
        "result": result,
        "message": "; ".join(x.message for x in fr.reasons)[:1000]
        or f"{feature} is {fr.status} here",
        "properties": {
            "container": r.workload.container,
            "status": fr.status,
            "ddtrace": f.ddtrace or "unknown",
            "python": f.python or "unknown",
            "ddtrace_source": f.sources.ddtrace or "unknown",
            "python_source": f.sources.python or "unknown",
            "codes": ",".join(x.code for x in fr.reasons),
            "verdict": r.verdict(),
        },
    }
    if worst is not None and worst in _SEVERITY:
        out["severity"] = _SEVERITY[worst]
    if r.exempt is not None:
        out["properties"]["exempt"] = r.exempt[:200]
    return out


def build(
    snap: scan_mod.Snapshot, keep: frozenset[str] = frozenset(RESULTS)
) -> dict[tuple[str, str], dict[str, Any]]:
    """The reports of a snapshot by (namespace, name); ``keep``: the results written
    (``--policy-report-results fail,warn`` keeps etcd small)."""
    grouped: dict[tuple[str, str, str], list[model.WorkloadResult]] = {}
    for (ns, kind, name, _), entry in snap.entries.items():
        if (ns, kind, name) in snap.identities:
            grouped.setdefault((ns, kind, name), []).append(entry.result)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for (ns, kind, name), results in sorted(grouped.items()):
        api_version, uid = snap.identities[(ns, kind, name)]
        items = [
            item
            for r in results
            for feature, fr in sorted(r.features.items())
            if (item := _result(r, feature, fr))["result"] in keep
        ]
        summary = {k: sum(1 for i in items if i["result"] == k) for k in (*RESULTS, "error")}
        owner = {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid}
        rname = report_name(kind, name)
        out[(ns, rname)] = {
            "apiVersion": GROUP_VERSION,
            "kind": "PolicyReport",
            "metadata": {
                "name": rname,
                "namespace": ns,
                "labels": dict(MANAGED),
                "ownerReferences": [owner],
            },
            "scope": {**owner, "namespace": ns},
            "summary": summary,
            "results": items,
        }
    return out


@dataclasses.dataclass
class Writer:
    """Keeps the cluster's PolicyReports equal to the last scan's: applies what changed,
    deletes what is gone. Its memory of what it applied is its own (a restart applies
    each report once more: server-side apply makes that a no-op)."""

    endpoint: kube.Endpoint
    keep: frozenset[str] = frozenset(RESULTS)
    applied: dict[tuple[str, str], bytes] = dataclasses.field(default_factory=dict)

    def _url(self, ns: str, name: str) -> str:
        return f"{self.endpoint.host}/apis/{GROUP_VERSION}/namespaces/{ns}/{PLURAL}/{name}"

    async def sync(
        self, session: aiohttp.ClientSession, snap: scan_mod.Snapshot
    ) -> tuple[int, int]:
        """(applied, deleted); ReportsUnavailable when the CRD is missing."""
        wanted = build(snap, self.keep)
        existing = await self._existing(session)
        applied = deleted = 0
        for (ns, name), report in wanted.items():
            body = orjson.dumps(report)
            digest = hashlib.sha256(body).digest()
            if self.applied.get((ns, name)) == digest and (ns, name) in existing:
                continue
            async with session.patch(
                self._url(ns, name),
                params={"fieldManager": MANAGER, "force": "true"},
                data=body,
                headers={**self.endpoint.headers(), "Content-Type": "application/apply-patch+yaml"},
                ssl=self.endpoint.ssl,
            ) as resp:
                if resp.status == 404:
                    raise ReportsUnavailable(_MISSING)
                if resp.status >= 300:
                    text = (await resp.text())[:300]
                    log.warning(
                        "PolicyReport %s/%s not written: %s %s", ns, name, resp.status, text
                    )
                    continue
            self.applied[(ns, name)] = digest
            applied += 1
        for ns, name in sorted(existing - set(wanted)):
            async with session.delete(
                self._url(ns, name), headers=self.endpoint.headers(), ssl=self.endpoint.ssl
            ) as resp:
                if resp.status < 300 or resp.status == 404:
                    deleted += 1
                    self.applied.pop((ns, name), None)
        return applied, deleted

    async def _existing(self, session: aiohttp.ClientSession) -> set[tuple[str, str]]:
        """Our reports in the cluster (paged like every LIST of the scanner)."""
        found: set[tuple[str, str]] = set()

        def on_page(items: kube.Page) -> None:
            for i in items:
                meta = i.get("metadata") or {}
                found.add((str(meta.get("namespace")), str(meta.get("name"))))

        try:
            await kube.list_all(
                session,
                self.endpoint,
                f"/apis/{GROUP_VERSION}/{PLURAL}",
                on_page=on_page,
                on_restart=found.clear,
                params={"labelSelector": ",".join(f"{k}={v}" for k, v in MANAGED.items())},
            )
        except kube.Forbidden:
            raise ReportsUnavailable(
                "the scanner may not list PolicyReports: the chart grants it with "
                "scanner.policyReports.enabled"
            ) from None
        except kube.ListError as exc:
            if exc.reason == "http_404":
                raise ReportsUnavailable(_MISSING) from None
            raise
        return found


_MISSING = (
    "the PolicyReport CRD (wgpolicyk8s.io/v1alpha2) is not installed: install Kyverno's, or "
    "the one of kubernetes-sigs/wg-policy-prototypes; ddcompat does not install it"
)
