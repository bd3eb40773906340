"""Memory bounded by bytes (issue 14.10): distinct large annotations (the
last-applied-configuration of every `kubectl apply`) never grow the webhook's caches."""

from __future__ import annotations

import gc
import json
import tracemalloc

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
