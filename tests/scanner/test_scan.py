"""Scans against the fake API server: pagination, 410 restarts, throttling, resets,
RBAC degradation, owner resolution, node platforms, sharding, series budget."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from ddcompat.scanner import scan as scan_mod
from ddcompat.shared import judge as judge_mod
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod
from ddcompat.shared.sources import kubernetes as kube
from tests.scanner.conftest import Start, fleet
from tests.scanner.fake_apiserver import Faults, pod

SEED = matrix_mod.load(edition="seed")
FAST = kube.Retry(attempts=6, base=0.001, cap=0.01)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def run(endpoint: kube.Endpoint, **opts: object) -> scan_mod.Snapshot:
    options = scan_mod.Options(kubernetes=True, endpoint=endpoint, page_size=40, retry=FAST, **opts)  # type: ignore[arg-type]
    async with aiohttp.ClientSession() as session:
        return await scan_mod.scan(session, options, judge_mod.Judge(SEED, policy_mod.DEFAULT))


def statuses(snap: scan_mod.Snapshot, key: tuple[str, str, str, str]) -> dict[str, str]:
    return dict(snap.entries[key].statuses)


async def test_pods_resolve_to_workloads(apiserver: Start) -> None:
    endpoint, server = await apiserver()
    snap = await run(endpoint)
    keys = set(snap.entries)
    assert ("shop", "Deployment", "api", "app") in keys
    assert ("batch", "CronJob", "nightly", "app") in keys
    assert ("data", "StatefulSet", "db-api", "app") in keys
    # a bare pod: its name is never a label value (issue 14.11)
    assert ("data", "Pod", scan_mod.BARE_PODS, "app") in keys
    assert not any("pod-22" in k for key in keys for k in key)
    # 25 filler deployments, not 250 pods; sidecars skipped
    assert len([k for k in keys if k[0] == "filler"]) == 25
    assert len(keys) == 25 + 5
    assert snap.entries[("shop", "Deployment", "api", "app")].pods == 3
    assert (
        statuses(snap, ("shop", "Deployment", "api", "app"))["threat_protection"] == "unsupported"
    )
    assert statuses(snap, ("shop", "Deployment", "web", "app")) == {"threat_detection": "supported"}
    assert server.stats.pages["pods"] == 7  # 258 pods at 40 per page


async def test_template_pods_on_mixed_nodes_keep_the_worst(apiserver: Start) -> None:
    objects = fleet(filler=0)
    # the same ReplicaSet template on an amd64 node and on a 32-bit arm node
    objects["pods"] += [
        pod(300, owner=("ReplicaSet", "web-7f9c"), ddtrace="1.20.0", node="node-arm32"),
        pod(301, owner=("ReplicaSet", "web-7f9c"), ddtrace="1.20.0", node="node-a"),
    ]
    endpoint, _ = await apiserver(objects)
    snap = await run(endpoint)
    entry = snap.entries[("shop", "Deployment", "web", "app")]
    assert entry.pods == 4
    assert dict(entry.statuses) == {"threat_detection": "unsupported"}


async def test_node_platform_when_pod_has_no_selector(apiserver: Start) -> None:
    endpoint, _ = await apiserver()
    snap = await run(endpoint)
    entry = snap.entries[("batch", "CronJob", "nightly", "app")]
    assert str(entry.result.workload.facts.platform) == "linux/arm"
    assert [r.code for r in entry.result.features["threat_detection"].reasons] == [
        "PLATFORM_UNSUPPORTED"
    ]


@pytest.mark.parametrize(
    "faults",
    [
        Faults(expire_at_page=3),
        Faults(throttle_every=3),
        Faults(error_every=4),
        Faults(reset_every=5),
        Faults(expire_at_page=2, throttle_every=4, error_every=7, reset_every=9),
    ],
    ids=["410 restart", "429", "500", "connection reset", "all at once"],
)
async def test_faults_still_give_the_complete_fleet(apiserver: Start, faults: Faults) -> None:
    clean_endpoint, _ = await apiserver()
    expected = await run(clean_endpoint)
    endpoint, server = await apiserver(faults=faults)
    snap = await run(endpoint)
    assert {k: e.pods for k, e in snap.entries.items()} == {
        k: e.pods for k, e in expected.entries.items()
    }
    assert snap.errors == ()
    if faults.expire_at_page is not None:
        assert server.stats.expired >= 1
    if faults.throttle_every:
        assert server.stats.statuses.get(429, 0) >= 1


async def test_forbidden_owner_lookup_degrades(apiserver: Start) -> None:
    endpoint, _ = await apiserver(faults=Faults(forbidden=frozenset({"replicasets", "nodes"})))
    snap = await run(endpoint)
    assert ("shop", "ReplicaSet", "api-6d4b", "app") in snap.entries  # one level less precise
    assert ("batch", "CronJob", "nightly", "app") in snap.entries  # jobs still readable
    reasons = {(source, reason) for source, reason, _ in snap.errors}
    assert reasons == {("kubernetes", "forbidden")}
    assert len(snap.errors) == 2


async def test_forbidden_pods_fail_the_scan(apiserver: Start) -> None:
    endpoint, _ = await apiserver(faults=Faults(forbidden=frozenset({"pods"})))
    with pytest.raises(kube.Forbidden):
        await run(endpoint)


async def test_retries_exhausted(apiserver: Start) -> None:
    endpoint, _ = await apiserver(faults=Faults(error_every=1))
    with pytest.raises(kube.ListError) as exc:
        await run(endpoint)
    assert exc.value.reason == "retries_exhausted"


async def test_shards_partition_the_fleet(apiserver: Start) -> None:
    endpoint, _ = await apiserver()
    whole = set((await run(endpoint)).entries)
    parts = [set((await run(endpoint, shard=i, total_shards=3)).entries) for i in range(3)]
    assert set().union(*parts) == whole
    assert sum(len(p) for p in parts) == len(whole)
    assert all(parts)


async def test_series_budget(apiserver: Start) -> None:
    endpoint, _ = await apiserver()
    snap = await run(endpoint, max_series=20)
    assert 0 < len(snap.entries) < 31
    series = sum(1 + len(e.statuses) for e in snap.entries.values())
    assert series <= 20 and snap.dropped_series > 0


async def test_files_and_cluster_together(apiserver: Start) -> None:
    endpoint, _ = await apiserver()
    snap = await run(endpoint, paths=(EXAMPLES,))
    types = {e.result.workload.deployment_type for e in snap.entries.values()}
    assert types == {"kubernetes", "docker", "ecs", "fargate", "lambda"}


async def test_restart_reports_a_bad_pod_once(apiserver: Start) -> None:
    objects = fleet()
    objects["pods"].insert(0, pod(99, annotations={"ddcompat.io/features": "warp_drive"}))
    endpoint, server = await apiserver(objects, faults=Faults(expire_at_page=4))
    snap = await run(endpoint)
    assert server.stats.expired == 1
    assert [(s, r) for s, r, _ in snap.errors] == [("kubernetes", "bad_pod")]
    assert snap.entries[("shop", "Deployment", "api", "app")].pods == 3


async def test_bad_pod_is_reported_not_fatal(apiserver: Start) -> None:
    objects = fleet(filler=0)
    bad = pod(99, annotations={"ddcompat.io/features": "warp_drive"})
    objects["pods"].append(bad)
    endpoint, _ = await apiserver(objects)
    snap = await run(endpoint)
    assert ("shop", "Deployment", "api", "app") in snap.entries
    assert [(s, r) for s, r, _ in snap.errors] == [("kubernetes", "bad_pod")]
    assert "warp_drive" in snap.errors[0][2]
