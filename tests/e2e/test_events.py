"""Events for new gaps in the real kube-apiserver (issue 18.2): the first scan is the
baseline; a gap that appears gives one Event on the workload (reason DdcompatGap, the
Deployment as involvedObject), aggregated and never repeated while nothing new appears."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from ddcompat.scanner import events
from ddcompat.scanner import scan as scan_mod
from ddcompat.shared import judge as judge_mod
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod
from tests.e2e.conftest import Cluster, make_fleet, scanner_token

NS = "events-e2e"


@pytest.fixture(scope="module")
def token(cluster: Cluster) -> str:
    make_fleet(cluster, NS, "1.20.0")  # compliant at first
    return scanner_token(cluster, "ev", "scanner.events.enabled=true")


def test_an_event_for_a_new_gap_once(cluster: Cluster, token: str) -> None:
    endpoint = cluster.endpoint(token)
    opts = scan_mod.Options(kubernetes=True, endpoint=endpoint)
    judging = judge_mod.Judge(matrix_mod.load(edition="seed"), policy_mod.DEFAULT)
    notifier = events.Notifier(endpoint, min_interval=0)

    async def scan_and_notify() -> int:
        async with aiohttp.ClientSession() as s:
            return await notifier.notify(s, await scan_mod.scan(s, opts, judging))

    assert asyncio.run(scan_and_notify()) == 0  # the baseline
    cluster.kubectl(
        "annotate",
        "pods",
        "-n",
        NS,
        "-l",
        "app=api",
        "--overwrite",
        "ddcompat.io/ddtrace-version=1.9.0",
    )
    assert asyncio.run(scan_and_notify()) == 1
    [event] = cluster.events(NS, events.REASON)
    uid = cluster.uid("deployment", "api", NS)
    assert event["involvedObject"]["kind"] == "Deployment"
    assert event["involvedObject"]["uid"] == uid
    assert event["type"] == "Warning" and "DDTRACE_TOO_OLD" in event["message"]
    assert event["count"] == 1
    # where users look: `kubectl describe` of the Deployment lists it
    described = cluster.kubectl("describe", "deployment", "api", "-n", NS).stdout
    assert events.REASON in described and "DDTRACE_TOO_OLD" in described
    # nothing new: no second Event, no bump
    assert asyncio.run(scan_and_notify()) == 0
    assert [e["count"] for e in cluster.events(NS, events.REASON)] == [1]
