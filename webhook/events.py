"""Events from admission (``--events``, off by default): when the webhook denies, warns
about or audits a workload (Deployment, StatefulSet, ...; never one per Pod), an Event on
it (``reason: DdcompatGap``) says why, where `kubectl describe` and event exporters show
it. Admission never waits on this: a review only offers the Event to a bounded queue
(full: dropped and counted), a background task writes it; one Event object per workload
(aggregated: ``count`` bumped), at most one write per workload per ``min_interval``.
Dry-run requests write nothing (the webhook declares ``sideEffects: NoneOnDryRun``)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable

import aiohttp

from ddcompat.shared.sources import kubernetes as kube
from ddcompat.webhook import protocol

log = logging.getLogger("ddcompat.webhook.events")

REASON = "DdcompatGap"
COMPONENT = "ddcompat-webhook"
# offer() results and writes, by result: the label values of the events counter
RESULTS = ("written", "failed", "dropped", "limited")
MAX_REMEMBERED = 10_000


def message(outcome: protocol.Outcome) -> str | None:
    """What an Event says about a judged workload; None when there is nothing to say."""
    resp = outcome.body["response"]
    if outcome.decision == "denied":
        return resp.get("status", {}).get("message")
    if outcome.decision == "warned":
        return "; ".join(resp.get("warnings", ())) or None
    if outcome.decision == "audited":
        gaps = sorted(set(outcome.findings))
        return "ddcompat (audit mode, admitted): " + "; ".join(f"{f}: {c}" for f, c in gaps)
    return None


@dataclasses.dataclass
class Announcer:
    endpoint: kube.Endpoint
    min_interval: float = 600.0
    max_queue: int = 256
    clock: Callable[[], float] = time.monotonic
    # workloads written to, and when (the rate limit)
    sent: dict[tuple[str, str, str], float] = dataclasses.field(default_factory=dict)
    queue: asyncio.Queue[tuple[protocol.Target, str]] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.max_queue)

    def offer(self, outcome: protocol.Outcome) -> str | None:
        """Queue the Event an outcome calls for (never blocks); the result to count, or
        None when the outcome calls for none."""
        if outcome.target is None or outcome.decision not in ("denied", "warned", "audited"):
            return None
        text = message(outcome)
        if not text:
            return None
        _, kind, namespace, name, _ = outcome.target
        key = (namespace, kind, name)
        last = self.sent.get(key)
        now = self.clock()
        if last is not None and now - last < self.min_interval:
            return "limited"
        try:
            self.queue.put_nowait((outcome.target, text))
        except asyncio.QueueFull:
            return "dropped"
        if len(self.sent) >= MAX_REMEMBERED:
            self._forget(now)
        self.sent[key] = now  # (counted from the offer: a burst of applies queues one)
        return None

    def _forget(self, now: float) -> None:
        for key, at in list(self.sent.items()):
            if now - at >= self.min_interval:
                del self.sent[key]
        while len(self.sent) >= MAX_REMEMBERED:  # all recent: the oldest go
            del self.sent[next(iter(self.sent))]

    async def run(self, session: aiohttp.ClientSession, count: Callable[[str], None]) -> None:
        """Write queued Events until cancelled; an error is logged and counted, never the
        end of the loop."""
        while True:
            target, text = await self.queue.get()
            api_version, kind, namespace, name, uid = target
            try:
                ok = await kube.record_event(
                    session,
                    self.endpoint,
                    kube.EventTarget(api_version, kind, namespace, name, uid),
                    reason=REASON,
                    message=text,
                    component=COMPONENT,
                )
            except Exception as exc:  # (unreachable API, a bug: said, counted, loop goes on)
                log.warning("event on %s %s/%s not written: %r", kind, namespace, name, exc)
                ok = False
            count("written" if ok else "failed")
