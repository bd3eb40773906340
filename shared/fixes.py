"""The smallest change that closes a workload's gaps, and the matrix's answer to "which
ddtrace supports this feature here" (``ddcompat matrix query``).

Both are asked of the evaluator itself: a candidate (a ddtrace release, a Lambda layer, a
Python) is put in the workload's facts and judged, so an answer always holds for the whole
runtime (a ddtrace that supports the feature but not the workload's Python is no answer).
Candidates are the releases PyPI lists (``data/ddtrace-releases.tsv``, not yanked) and
the layers the layer data knows, oldest first; "maintained" is a release whose line is not
at end of life on the day judged. A Finder belongs to the front end that made it (its memo
is keyed by the facts and features asked about, under its evaluator's day).
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import msgspec
from packaging.version import Version

from ddcompat.shared import evaluator as evaluator_mod
from ddcompat.shared import lambda_layers, model, versions
from ddcompat.shared import matrix as matrix_mod

RELEASES = Path(__file__).parent / "data" / "ddtrace-releases.tsv"
OK: frozenset[str] = frozenset({"supported", "preview"})
# Findings no other ddtrace, layer or Python can close (the finding itself says what to do)
NOT_BY_VERSION = frozenset(
    {
        "DEPLOYMENT_UNSUPPORTED",
        "REMOTE_CONFIG_DISABLED",
        "FRAMEWORK_UNSUPPORTED",
        "AUTH_FRAMEWORK_UNSUPPORTED",
        "LAMBDA_LAYER_MISMATCH",
        "SETTING_IGNORED",
        "LAMBDA_RUNTIME_DEPRECATED",
        # a fact not known is no gap (the workload is unverified there), whatever the fix
        "PYTHON_UNKNOWN",
    }
)
Facet = str  # ddtrace, library_injection, lambda_layer, python, framework


@functools.cache
def releases() -> tuple[Version, ...]:
    """Every ddtrace release PyPI lists, not yanked, oldest first."""
    import csv

    with RELEASES.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return tuple(sorted(Version(r["version"]) for r in rows if r["yanked"] != "yes"))


@functools.cache
def _release_set() -> frozenset[Version]:
    return frozenset(releases())


class Fix(msgspec.Struct, frozen=True, gc=False):
    """Change ``facet`` from ``observed`` to at least ``minimum`` for ``features``."""

    facet: Facet
    observed: str | None
    minimum: str
    features: tuple[str, ...]


class Answer(NamedTuple):
    """The ddtrace releases (or layers) that support the features on one runtime."""

    minimum: str | None  # the smallest, whatever its lifecycle
    maintained: str | None  # the smallest on a line not at end of life
    supported: tuple[str, ...]  # the supporting ones as ranges (">=2.19.0,<4.0.0")


def _answer(rows: list[tuple[str, bool, bool]]) -> Answer:
    """An answer from the candidates judged in order: (name, closes, at end of life); a
    run of supporting candidates holds up to the next candidate."""
    first = next((name for name, closes, _ in rows if closes), None)
    maintained = next((name for name, closes, eol in rows if closes and not eol), None)
    ranges: list[str] = []
    start: str | None = None
    for name, closes, _ in rows:
        if closes and start is None:
            start = name
        elif not closes and start is not None:
            ranges.append(f">={start},<{name}")
            start = None
    if start is not None:
        ranges.append(f">={start}")
    return Answer(first, maintained, tuple(ranges))


def candidates(m: matrix_mod.Matrix) -> tuple[Version, ...]:
    """The releases where what the matrix says may change: for every bound of its rows
    (and each release line's start), the first release at or after it. Between two of
    them every release is judged alike, so these are all the answers can be."""
    points: set[Version] = set()
    ranges = [
        *(r.ddtrace for r in m.runtimes),
        *(r.ddtrace for r in m.release_branches),
        *(r.ddtrace for r in m.restrictions),
        *(r.ddtrace for r in m.defaults),
        *(r.ddtrace for r in m.injection),
        *(r.ddtrace for r in m.settings if r.ddtrace),
        *(f">={f.min_ddtrace}" for f in m.features if f.min_ddtrace),
    ]
    for text in ranges:
        iv = versions.parse_range(text)
        points.update(Version(str(b)) for b in (iv.lo, iv.hi) if b is not None)
    known = releases()
    points.update(Version(f"{v.major}") for v in known)
    if m.known is not None:  # the newest of each line (a release newer than the facts)
        points.update(Version(v) for v in m.known.ddtrace_lines.values())
    out: set[Version] = set()
    for p in points:
        i = bisect.bisect_left(known, p)
        if i < len(known):
            out.add(known[i])
    return tuple(sorted(out))


class Finder:
    """Answers asked of one evaluator (its matrix, its day)."""

    def __init__(self, ev: evaluator_mod.Evaluator) -> None:
        self.ev = ev
        self._memo: dict[tuple[object, ...], object] = {}
        self._candidates = candidates(ev.matrix)
        self._known = frozenset(self._candidates)

    def _closes(self, facts: model.Facts, features: frozenset[str]) -> tuple[bool, bool]:
        """Whether every feature is supported with these facts, leaving out findings no
        version can close; and whether the ddtrace line is at end of life."""
        per, _ = self.ev.facts_findings(facts, features)
        if any(_open(per[f]) for f in features):
            return False, False
        return True, any(x.code == "DDTRACE_END_OF_LIFE" for f in features for x in per[f])

    def ddtrace(
        self,
        facts: model.Facts,
        features: frozenset[str],
        at_least: Version | None = None,
        *,
        maintained_only: bool = False,
    ) -> Answer:
        """The releases (from ``at_least``) that support ``features`` with these facts;
        ``maintained_only``: judge only releases on lines not at end of life (a cheaper
        question, for a new Python)."""
        key = ("ddtrace", facts, features, at_least, maintained_only, self.ev.day())
        hit = self._memo.get(key)
        if isinstance(hit, Answer):
            return hit
        # every candidate judged once per runtime (whatever ddtrace the facts name, and
        # without the facts only NOT_BY_VERSION findings read: frameworks, settings, Remote
        # Configuration)
        runtime = msgspec.structs.replace(_by_version(facts), ddtrace=None)
        judged = self._judged(runtime, features, maintained_only)
        rows = [(v, c, e) for v, c, e in judged if at_least is None or v >= at_least]
        if at_least is not None and at_least in _release_set() and at_least not in self._known:
            # the version in use, if no candidate: judged too (no change may be needed)
            closes, eol = self._closes(
                msgspec.structs.replace(facts, ddtrace=str(at_least)), features
            )
            rows.insert(0, (at_least, closes, eol))
        answer = _answer([(str(v), c, e) for v, c, e in rows])
        self._memo[key] = answer
        return answer

    def _judged(
        self, runtime: model.Facts, features: frozenset[str], maintained_only: bool = False
    ) -> tuple[tuple[Version, bool, bool], ...]:
        """(candidate, closes, at end of life) for every candidate on this runtime."""
        key = ("judged", runtime, features, maintained_only, self.ev.day())
        hit = self._memo.get(key)
        if isinstance(hit, tuple):
            return hit
        pool = self._maintained() if maintained_only else self._candidates
        out = tuple(
            (v, *self._closes(msgspec.structs.replace(runtime, ddtrace=str(v)), features))
            for v in pool
        )
        self._memo[key] = out
        return out

    def _maintained(self) -> tuple[Version, ...]:
        """The candidates whose line is not at end of life on the day judged."""
        key = ("maintained", self.ev.day())
        hit = self._memo.get(key)
        if isinstance(hit, tuple):
            return hit
        # (the evaluator's own lifecycle findings, as a candidate judged would get them)
        out = tuple(
            v
            for v in self._candidates
            if not any(x.code == "DDTRACE_END_OF_LIFE" for x in self.ev.common(str(v))[0])
        )
        self._memo[key] = out
        return out

    def layer(
        self, facts: model.Facts, features: frozenset[str], at_least: int | None = None
    ) -> Answer:
        """The Datadog Python Lambda layers (from ``at_least``) whose tracer supports
        ``features`` with these facts."""
        key = ("layer", facts, features, at_least, self.ev.day())
        hit = self._memo.get(key)
        if isinstance(hit, Answer):
            return hit
        rows = []
        for n in lambda_layers.layer_versions():
            if at_least is not None and n < at_least:
                continue
            carried = lambda_layers.ddtrace_of_layer(n, facts.python)
            closes, eol = False, False
            if carried is not None:
                trial = msgspec.structs.replace(facts, ddtrace=carried, lambda_layer=n)
                closes, eol = self._closes(trial, features)
            rows.append((str(n), closes, eol))
        answer = _answer(rows)
        self._memo[key] = answer
        return answer

    def python(
        self,
        facts: model.Facts,
        features: frozenset[str],
        after: tuple[int, int],
        ddtrace_from: Version | None = None,
    ) -> tuple[str, Answer] | None:
        """The smallest Python newer than ``after`` that a ddtrace release (from
        ``ddtrace_from``: a fix never downgrades) supports ``features`` on, with that
        ddtrace answer."""
        pythons = sorted(
            {py for _, _, pys in self.ev.matrix.runtime_intervals for py in pys if py > after}
        )
        for py in pythons:
            text = f"{py[0]}.{py[1]}"
            answer = self.ddtrace(
                msgspec.structs.replace(facts, python=text),
                features,
                ddtrace_from,
                maintained_only=True,
            )
            if answer.minimum is not None:
                return text, answer
        return None

    def fixes(self, r: model.WorkloadResult) -> tuple[Fix, ...]:
        """The smallest changes that make every feature the workload turns on supported:
        frameworks first (no tracer closes those), then its tracer (the facet it comes
        from: ddtrace, library injection or the Lambda layer; a maintained line where one
        does), else a newer Python with a maintained tracer for it."""
        turned_on = frozenset(f for f, fr in r.features.items() if not fr.by_default)
        # fleets repeat facts: equal facts share their fixes, and the facts only
        # NOT_BY_VERSION findings read (frameworks, settings, Remote Configuration) are left
        # out of what a version fix depends on
        facts = _by_version(r.workload.facts)
        key = ("fixes", facts, turned_on, self.ev.day())
        hit = self._memo.get(key)
        if not isinstance(hit, tuple):
            hit = self._version_fixes(facts, turned_on)
            self._memo[key] = hit
        return (*_framework_fixes(r), *hit)

    def _version_fixes(self, facts: model.Facts, turned_on: frozenset[str]) -> tuple[Fix, ...]:
        # the gaps a version can close (not a deployment type, a setting, a framework)
        per, _ = self.ev.facts_findings(facts, turned_on)
        gaps = tuple(sorted(f for f in turned_on if _open(per[f])))
        if not gaps:
            return ()
        observed_lo = _lower(facts.ddtrace)
        if facts.deployment_type == "lambda" and facts.lambda_layer is not None:
            answer = self.layer(facts, turned_on, facts.lambda_layer)
            best = answer.maintained or answer.minimum
            if best is not None and best != str(facts.lambda_layer):
                return (Fix("lambda_layer", str(facts.lambda_layer), best, gaps),)
            return ()
        if facts.ddtrace is None:
            return ()
        answer = self.ddtrace(facts, turned_on, observed_lo)
        best = answer.maintained or answer.minimum
        facet = "library_injection" if facts.sources.ddtrace == "library_injection" else "ddtrace"
        if best is not None:
            return (Fix(facet, facts.ddtrace, best, gaps),) if best != facts.ddtrace.strip() else ()
        pm = versions.python_minor(facts.python) if facts.python else None
        found = self.python(facts, turned_on, pm, observed_lo) if pm is not None else None
        if found is None:
            return ()
        py, with_py = found
        out = [Fix("python", facts.python, py, gaps)]
        ddt = with_py.maintained or with_py.minimum
        if ddt is not None and ddt != facts.ddtrace.strip():
            out.append(Fix(facet, facts.ddtrace, ddt, gaps))
        return tuple(out)


def _open(findings: evaluator_mod.Findings) -> bool:
    """Whether findings leave a feature not supported, once those no version can close
    are left out."""
    return (
        evaluator_mod.status_of(tuple(x for x in findings if x.code not in NOT_BY_VERSION))
        not in OK
    )


def _by_version(facts: model.Facts) -> model.Facts:
    """The facts a version fix depends on (without those only NOT_BY_VERSION findings
    read)."""
    return msgspec.structs.replace(facts, frameworks=None, settings=frozenset(), remote_config=None)


def _lower(ddtrace: str | None) -> Version | None:
    """The lowest version a ddtrace fact may be (an upgrade starts there)."""
    if ddtrace is None:
        return None
    try:
        lo = versions.parse_range(ddtrace).lo
    except versions.VersionSyntaxError:
        return None
    return Version(str(lo)) if lo is not None else None


def _framework_fixes(r: model.WorkloadResult) -> Iterable[Fix]:
    """A framework too old for a feature: its minimum (the finding's ``required``)."""
    seen: dict[tuple[str, str | None, str], list[str]] = {}
    for feature, fr in sorted(r.features.items()):
        for x in fr.reasons:
            if x.code != "FRAMEWORK_UNSUPPORTED" or not x.required or ">=" not in x.required:
                continue
            name, minimum = x.required.split(">=", 1)
            seen.setdefault((name, x.observed, minimum), []).append(feature)
    for (name, observed, minimum), features in seen.items():
        yield Fix("framework", observed, f"{name} {minimum}", tuple(features))


class Query(NamedTuple):
    """``matrix query``: the smallest ddtrace (and Datadog Lambda layer on ``lambda``) that
    supports ``feature`` on one runtime, with the rows it rests on."""

    feature: str
    python: str
    os: str
    arch: str
    deployment: model.DeploymentType
    as_of: str
    ddtrace: Answer
    layer: Answer | None
    rows: tuple[tuple[str, str, str], ...]  # (section, what, source)


def query(
    finder: Finder,
    feature: str,
    python: str,
    os: str = "linux",
    arch: str = "amd64",
    deployment: model.DeploymentType = "kubernetes",
) -> Query:
    m = finder.ev.matrix
    facts = model.Facts(
        deployment_type=deployment,
        python=python,
        platform=model.Platform(os, (arch,)),
        features=frozenset({feature}),
    )
    wanted = frozenset({feature})
    answer = finder.ddtrace(facts, wanted)
    layer = finder.layer(facts, wanted) if deployment == "lambda" else None
    return Query(
        feature,
        python,
        os,
        arch,
        deployment,
        finder.ev.day(),
        answer,
        layer,
        _rows_used(m, feature, facts, answer.minimum, finder.ev.day()),
    )


def _rows_used(
    m: matrix_mod.Matrix, feature: str, facts: model.Facts, minimum: str | None, day: str
) -> tuple[tuple[str, str, str], ...]:
    """The matrix rows an answer rests on: the feature's, the runtime rows of its minimum
    for this Python and platform, the deployment type's, restrictions, Lambda layer rows and
    the lifecycle in force for the minimum."""
    out: list[tuple[str, str, str]] = []
    row = m.feature_by_id.get(feature)
    if row is not None:
        out.append(("features", f"{row.id} >={row.min_ddtrace or 'preview'}", row.source))
    at = versions.parse_range(minimum) if minimum else None
    pm = versions.python_minor(facts.python) if facts.python else None
    plat = facts.platform
    if at is not None:
        for r, iv, pys in m.runtime_intervals:
            if (
                versions.coverage(at, iv) is not versions.Coverage.NONE
                and r.os == plat.os
                and any(a in r.arch for a in plat.arch)
                and (pm is None or pm in pys)
            ):
                what = f"{r.os}/{','.join(r.arch)} python {', '.join(r.python)} ddtrace {r.ddtrace}"
                out.append(("runtimes", what, r.source))
        for rb in m.release_branches:
            if (
                rb.applies_on(day)
                and versions.coverage(at, versions.parse_range(rb.ddtrace))
                is not versions.Coverage.NONE
            ):
                out.append(("release_branches", f"{rb.ddtrace} {rb.level}", rb.source))
    dep = m.deployment_support.get((facts.deployment_type, feature))
    if dep is not None:
        what = f"{dep.deployment_type} {'supported' if dep.supported else 'not supported'}"
        out.append(("deployments", what, dep.source))
    for rr in m.restrictions:
        if rr.feature == feature:
            where = ", ".join((*rr.python, *rr.os))
            out.append(("restrictions", f"not {where} for ddtrace {rr.ddtrace}", rr.source))
    if facts.deployment_type == "lambda":
        for lr in m.lambda_layers:
            if lr.feature == feature:
                out.append(("lambda_layers", f"layers {lr.layers}: {lr.effect}", lr.source))
    return tuple(out)
