"""Events from admission (issue 18.2, --events): which reviews call for one, the rate
limit and the bounded queue, and a writer loop that outlives an unreachable API. (Writing
to a real API server: tests/e2e/test_webhook.py.)"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod
from ddcompat.shared.sources import kubernetes as kube
from ddcompat.webhook import events, protocol
from tests.tools import free_port
from tests.webhook.conftest import pod, review
from tests.webhook.test_workloads import KINDS, decide, review_of, workload

DEPLOYMENT = KINDS[0]


def outcome(ddtrace: str, mode: protocol.Mode = "warn", name: str = "api") -> protocol.Outcome:
    group, version, kind, path = DEPLOYMENT
    obj = workload(kind, group, version, path, ddtrace)
    obj["metadata"]["name"] = name
    obj["metadata"]["uid"] = f"uid-{name}"
    body = review_of(obj, group, version)
    return decide(body, mode=mode)[0]


def announcer(max_queue: int = 256, min_interval: float = 600) -> events.Announcer:
    endpoint = kube.Endpoint(host=f"https://127.0.0.1:{free_port()}", ssl=False)
    return events.Announcer(endpoint, min_interval=min_interval, max_queue=max_queue)


@pytest.mark.parametrize("mode", ["enforce", "warn", "audit"])
async def test_a_judged_workload_with_a_gap_is_queued_once(mode: protocol.Mode) -> None:
    a = announcer()
    o = outcome("1.9.0", mode)
    assert o.target == ("apps/v1", "Deployment", "shop", "api", "uid-api")
    assert a.offer(o) is None and a.queue.qsize() == 1
    _, text = a.queue.get_nowait()
    assert "threat_protection" in text and "DDTRACE_TOO_OLD" in text
    # the same workload again within the interval: limited, not queued
    assert a.offer(outcome("1.9.1", mode)) == "limited" and a.queue.empty()


async def test_no_event_for_compliant_workloads_pods_or_dry_runs() -> None:
    a = announcer()
    assert a.offer(outcome("1.20.0")) is None and a.queue.empty()  # nothing to say
    judge = protocol.Judge(matrix_mod.load(edition="seed"), policy_mod.DEFAULT)
    for body in (review(pod("1.9.0")), review(pod("1.9.0"), dry_run=True)):
        o = protocol.review(body, judge=judge, mode="warn")
        assert o.decision == "warned" and o.target is None  # never one per Pod
        assert a.offer(o) is None and a.queue.empty()
    group, version, kind, path = DEPLOYMENT
    dry = review_of(workload(kind, group, version, path, "1.9.0"), group, version)
    dry["request"]["dryRun"] = True
    o = decide(dry, mode="warn")[0]
    assert o.decision == "warned" and a.offer(o) is None and a.queue.empty()


async def test_the_queue_is_bounded_and_the_interval_passes() -> None:
    now = [0.0]
    a = announcer(max_queue=2, min_interval=60)
    a.clock = lambda: now[0]
    assert [a.offer(outcome("1.9.0", name=f"w{i}")) for i in range(3)] == [None, None, "dropped"]
    a.queue.get_nowait()
    assert a.offer(outcome("1.9.0", name="w0")) == "limited"
    now[0] = 61.0
    assert a.offer(outcome("1.9.0", name="w0")) is None


async def test_the_writer_outlives_an_unreachable_api() -> None:
    a = announcer()
    counted: list[str] = []
    async with aiohttp.ClientSession() as session:
        task = asyncio.create_task(a.run(session, counted.append))
        for i in range(3):
            a.offer(outcome("1.9.0", name=f"w{i}"))
        for _ in range(200):
            if len(counted) == 3:
                break
            await asyncio.sleep(0.01)
        assert counted == ["failed"] * 3 and not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
