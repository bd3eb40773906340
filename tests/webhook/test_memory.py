"""Memory bounded by bytes (issue 14.10): distinct large annotations (the
last-applied-configuration of every `kubectl apply`) never grow the webhook's caches."""

from __future__ import annotations

import gc
import json
import tracemalloc

from ddcompat.shared import cache as cache_mod
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod
from ddcompat.webhook import protocol
from tests.webhook.conftest import pod, review

SEED = matrix_mod.load(edition="seed")


def test_distinct_large_annotations_do_not_grow_the_caches() -> None:
    judge = protocol.Judge(SEED, policy_mod.DEFAULT)
    bodies = []
    for i in range(1600):
        big = {"kubectl.kubernetes.io/last-applied-configuration": f"{i:06d}" + "x" * 100_000}
        # half compliant, half denied, some dry-run: none may keep the 100 KB value
        p = pod("1.20.0" if i % 2 else "1.9.0", annotations=big)
        # and a large environment value of its own (a config blob in DD_TAGS)
        p["spec"]["containers"][0]["env"].append(
            {"name": "DD_TAGS", "value": "t" * 50_000 + str(i)}
        )
        body = review(p, dry_run=i % 5 == 0)
        bodies.append(json.dumps(body).encode())
    gc.collect()
    tracemalloc.start()
    try:
        for raw in bodies[:100]:  # warm up: imports, interned texts
            protocol.review(raw, judge=judge, mode="enforce")
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for raw in bodies[100:]:
            out = protocol.review(raw, judge=judge, mode="enforce")
            assert out.decision in ("allowed", "denied", "dry_run", "warned")
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 1,500 distinct 100 KB values went through: the caches keep none of them
    assert grown < 8 << 20, f"grew {grown / 2**20:.1f} MiB"


def _deployment(i: int, containers: int) -> bytes:
    ann = {
        f"ddcompat.io/c{c}.frameworks": ",".join(f"django==3.{j}.{i}" for j in range(40))
        for c in range(containers)
    }
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"d{i}", "namespace": "shop"},
        "spec": {
            "template": {
                "metadata": {"annotations": ann},
                "spec": {
                    "containers": [
                        {
                            "name": f"c{c}",
                            "image": "python:3.11",
                            "env": [{"name": "DD_APPSEC_ENABLED", "value": "true"}],
                        }
                        for c in range(containers)
                    ]
                },
            }
        },
    }
    body = review(obj, kind="Deployment")
    body["request"]["kind"] = {"group": "apps", "version": "v1", "kind": "Deployment"}
    return json.dumps(body).encode()


def test_the_decision_cache_holds_what_it_says_after_small_entries_then_large_ones() -> None:
    # issue 23.4: the cache weighed its first entries (small Pods) and took every later
    # one at their mean, so large judgements grew it far past its budget
    budget = 8 << 20
    judge = protocol.Judge(SEED, policy_mod.DEFAULT, cache_bytes=budget)
    for i in range(8):
        protocol.review(
            json.dumps(review(pod(name=f"p{i}", annotations={"n": str(i)}))).encode(),
            judge=judge,
            mode="enforce",
        )
    for i in range(60):
        protocol.review(_deployment(i, 150), judge=judge, mode="enforce")
    decisions = judge.decisions
    assert decisions is not None and 0 < len(decisions) < 60
    held = cache_mod.approx_bytes(list(decisions._data.items()))
    assert decisions.bytes <= budget
    assert held <= 1.5 * budget, f"holds {held / 2**20:.1f} MiB for a budget of 8 MiB"
