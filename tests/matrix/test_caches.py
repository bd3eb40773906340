"""Caches are bounded, owned by whoever made them, and never change an answer."""

from __future__ import annotations

import json

from ddcompat.shared import cache as cache_mod
from ddcompat.shared import evaluator, model, policy
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared.parsers import kubernetes

SEED = matrix_mod.load(edition="seed")


def test_a_cache_stays_within_its_byte_budget() -> None:
    c: cache_mod.Cache[int, str] = cache_mod.Cache("t", 4096)
    for i in range(1000):
        c.put(i, "x" * 100)
        assert c.bytes <= 4096
    assert 0 < len(c) < 1000 and 999 in c and 0 not in c  # the oldest went first
    assert c.get(999) == "x" * 100
    huge: cache_mod.Cache[int, str] = cache_mod.Cache("t", 100)
    assert huge.put(1, "y" * 1000) == "y" * 1000 and 1 not in huge  # too big to keep


def test_an_lru_cache_keeps_what_is_used_and_counts_entries() -> None:
    c: cache_mod.Cache[int, int] = cache_mod.Cache("t", 1 << 20, lru=True, max_entries=2)
    c.put(1, 10)
    c.put(2, 20)
    assert c.get(1) == 10  # 1 is now the youngest
    c.put(3, 30)
    assert 1 in c and 3 in c and 2 not in c and len(c) == 2
    assert (c.hits, c.misses) == (1, 0)


def workload(ddtrace: str, name: str = "api") -> model.WorkloadContainer:
    facts = model.Facts(
        "kubernetes",
        ddtrace,
        "3.11",
        model.Platform("linux", ("amd64",)),
        frozenset({"threat_detection"}),
    )
    return model.WorkloadContainer("f", "Deployment", "prod", name, "app", facts)


def test_evaluators_with_other_policies_never_share_an_answer() -> None:
    strict = policy.from_data({"severities": {"DDTRACE_UNKNOWN": "error"}})
    lenient = evaluator.Evaluator(SEED)
    harsh = evaluator.Evaluator(SEED, strict)
    w = workload(">=1.8,<2")  # partly older than Threat Detection needs: DDTRACE_UNKNOWN
    for _ in range(2):  # the second round is answered from each one's caches
        assert lenient.evaluate(w).compliant
        assert not harsh.evaluate(w).compliant


def test_a_tiny_budget_gives_the_same_answers_as_a_large_one() -> None:
    tiny = evaluator.Evaluator(SEED, cache_bytes=64)
    large = evaluator.Evaluator(SEED)
    for v in ["1.9.0", "1.20.0", "1.8.0", "2.6.0", "~=1.20", "junk"] * 3:
        assert tiny.evaluate(workload(v)) == large.evaluate(workload(v))


def test_a_reader_remembers_templates_without_mixing_them_up() -> None:
    reader = kubernetes.Reader()

    def deployment(name: str, ddtrace: str) -> bytes:
        return json.dumps(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name},
                "spec": {
                    "template": {
                        "metadata": {"annotations": {"ddcompat.io/ddtrace-version": ddtrace}},
                        "spec": {"containers": [{"name": "app", "image": "python:3.11"}]},
                    }
                },
            }
        ).encode()

    a = reader.read_json(deployment("a", "1.9.0"), "a.json")
    b = reader.read_json(deployment("b", "1.9.0"), "b.json")  # same template, from the cache
    c = reader.read_json(deployment("c", "1.20.0"), "c.json")
    assert a and b and c and len(reader.templates) == 2
    assert [w.facts for w in a.workloads] == [w.facts for w in b.workloads]
    assert b.workloads[0].name == "b" and b.workloads[0].source == "b.json"
    assert c.workloads[0].facts.ddtrace == "1.20.0"
    fresh = kubernetes.Reader().read_json(deployment("c", "1.20.0"), "c.json")
    assert fresh == c
