"""Kubernetes Events for new compatibility gaps (``--events``): when a scan finds a gap
(a warning- or error-severity finding) that the previous scan did not have, an Event on
the workload (``reason: DdcompatGap``, type Warning) says which, where `kubectl describe`
and event exporters show it. Aggregated: one Event object per workload, its ``count`` and
``lastTimestamp`` bumped on each new gap; rate-limited: a workload gets at most one per
``min_interval`` and a scan writes at most ``max_per_scan``; never one per pod. The first
scan is the baseline (a restarted scanner does not announce the whole fleet)."""

from __future__ import annotations

import dataclasses
import logging
import time

import aiohttp

from ddcompat.scanner import scan as scan_mod
from ddcompat.shared.sources import kubernetes as kube

log = logging.getLogger("ddcompat.scanner.events")

REASON = "DdcompatGap"
COMPONENT = "ddcompat-scanner"
Gap = tuple[str, str, str]  # (container, feature, code)
Workload = tuple[str, str, str]  # (namespace, kind, name)


def gaps(snap: scan_mod.Snapshot) -> dict[Workload, set[Gap]]:
    """The warning/error findings of each cluster workload of a snapshot."""
    out: dict[Workload, set[Gap]] = {}
    for (ns, kind, name, container), entry in snap.entries.items():
        r = entry.result
        if r.exempt is not None or (ns, kind, name) not in snap.identities:
            continue
        for feature, fr in r.features.items():
            for x in fr.reasons:
                if x.severity in ("warning", "error"):
                    out.setdefault((ns, kind, name), set()).add((container, feature, x.code))
    return out


@dataclasses.dataclass
class Notifier:
    endpoint: kube.Endpoint
    max_per_scan: int = 50
    min_interval: float = 3600.0
    last: dict[Workload, set[Gap]] | None = None  # the previous scan's gaps (None: none yet)
    sent: dict[Workload, float] = dataclasses.field(default_factory=dict)

    async def notify(self, session: aiohttp.ClientSession, snap: scan_mod.Snapshot) -> int:
        """Events for the gaps new since the previous scan; how many were written."""
        now_gaps = gaps(snap)
        previous, self.last = self.last, now_gaps
        if previous is None:
            return 0  # the baseline
        written = 0
        now = time.monotonic()
        for workload, found in sorted(now_gaps.items()):
            new = found - previous.get(workload, set())
            if not new or written >= self.max_per_scan:
                continue
            if now - self.sent.get(workload, -self.min_interval) < self.min_interval:
                continue
            if await self._event(session, snap, workload, new):
                self.sent[workload] = now
                written += 1
        return written

    async def _event(
        self,
        session: aiohttp.ClientSession,
        snap: scan_mod.Snapshot,
        workload: Workload,
        new: set[Gap],
    ) -> bool:
        ns, kind, name = workload
        api_version, uid = snap.identities[workload]
        parts = [f"container {c}: {f}: {code}" for c, f, code in sorted(new)]
        return await kube.record_event(
            session,
            self.endpoint,
            kube.EventTarget(api_version, kind, ns, name, uid),
            reason=REASON,
            message="ddcompat: new compatibility gaps: " + "; ".join(parts),
            component=COMPONENT,
        )
