"""Hypothesis properties of the evaluator over arbitrary facts."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from ddcompat.shared import evaluator, model
from ddcompat.shared import matrix as matrix_mod

SEED = matrix_mod.load(edition="seed")

releases = st.tuples(st.integers(0, 3), st.integers(0, 30), st.integers(0, 20))
version_text = releases.map(lambda t: ".".join(map(str, t)))
junk = st.text(max_size=12)
ddtrace_values = st.one_of(
    st.none(),
    version_text,
    version_text.map(lambda v: "v" + v),
    st.integers(0, 3).map(lambda major: f"v{major}"),
    version_text.map(lambda v: "~=" + v),
    st.tuples(version_text, version_text).map(lambda p: f">={p[0]},<{p[1]}"),
    junk,
)
python_values = st.one_of(
    st.none(),
    st.tuples(st.integers(2, 3), st.integers(0, 14)).map(lambda t: f"{t[0]}.{t[1]}"),
    junk,
)
frameworks = st.one_of(
    st.none(),
    st.lists(
        st.tuples(
            st.sampled_from(["django", "flask", "fastapi", "x"]),
            st.one_of(version_text, st.just(""), junk),
        ),
        max_size=3,
    ).map(tuple),
)
platforms = st.builds(
    model.Platform,
    st.one_of(st.none(), st.sampled_from(["linux", "darwin", "windows", "plan9"])),
    st.lists(
        st.sampled_from(["amd64", "arm64", "386", "arm", "s390x"]), max_size=3, unique=True
    ).map(tuple),
)


def facts_strategy(ddtrace: st.SearchStrategy[str | None]) -> st.SearchStrategy[model.Facts]:
    return st.builds(
        model.Facts,
        deployment_type=st.sampled_from(model.DEPLOYMENT_TYPES),
        ddtrace=ddtrace,
        python=python_values,
        platform=platforms,
        features=st.frozensets(st.sampled_from(model.FEATURES)),
        frameworks=frameworks,
        remote_config=st.one_of(st.none(), st.booleans()),
    )


WARM = evaluator.Evaluator(SEED)


def workload(facts: model.Facts) -> model.WorkloadContainer:
    return model.WorkloadContainer("p.yaml", "Pod", "ns", "n", "c", facts)


@settings(max_examples=400, deadline=None)
@given(facts_strategy(ddtrace_values))
def test_total_and_deterministic(facts: model.Facts) -> None:
    first = evaluator.evaluate(workload(facts), SEED)  # a fresh evaluator, no cache
    # one whose caches hold every example judged before: they never change an answer
    second = WARM.evaluate(workload(facts))
    assert first == second == WARM.evaluate(workload(facts))
    assert set(first.features) == set(facts.features)
    for fr in first.features.values():
        assert fr.status in ("supported", "unsupported", "unknown", "preview")
        # an answer other than "supported" always says why
        assert fr.status == "supported" or fr.reasons


@settings(max_examples=400, deadline=None)
@given(facts_strategy(st.just("1.0.0")), releases, releases)
def test_raising_ddtrace_never_breaks_a_supported_feature(
    facts: model.Facts, a: tuple[int, int, int], b: tuple[int, int, int]
) -> None:
    low, high = sorted([a, b], key=lambda t: Version(".".join(map(str, t))))
    lo = evaluator.evaluate(workload(_with(facts, low)), SEED)
    hi = evaluator.evaluate(workload(_with(facts, high)), SEED)
    for feature, result in lo.features.items():
        if result.status == "supported":
            assert hi.features[feature].status != "unsupported", (feature, low, high)


def _with(facts: model.Facts, release: tuple[int, int, int]) -> model.Facts:

    return msgspec.structs.replace(facts, ddtrace=".".join(map(str, release)))
