"""The evaluation core: workload facts + matrix + policy -> per-feature status and reasons.

An :class:`Evaluator` judges workloads against one matrix under one policy. What the
matrix says about a set of facts does not depend on the policy, so that part is
remembered on its own (fleets repeat the same facts thousands of times); the policy
(severities, requirements, exemptions) is applied afterwards. The caches belong to the
Evaluator, and so to the front end that made it.
"""

from __future__ import annotations

import datetime
import math
import re
import time
from collections.abc import Callable
from typing import Any

import msgspec

from ddcompat.shared import cache as cache_mod
from ddcompat.shared import codes, model, signals, versions
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod

Findings = tuple[model.Finding, ...]
FactsFindings = tuple[dict[str, Findings], frozenset[str]]
PolicyResults = tuple[dict[str, model.FeatureResult], tuple[str, ...], model.Severity | None]
# Budget of an Evaluator's caches (all parts together); entries are a few hundred bytes.
DEFAULT_CACHE_BYTES = 64 << 20
_NOTHING: frozenset[str] = frozenset()


def _fmt_pythons(rows: list[matrix_mod.RuntimeRow]) -> str:
    seen: list[str] = []
    for r in rows:
        for p in r.python:
            if p not in seen:
                seen.append(p)
    return ", ".join(seen)


# a runtime row, and the Python versions it supports
_Candidate = tuple[matrix_mod.RuntimeRow, Any]


def _runtime_findings(
    facts: model.Facts, ddt: versions.Interval | None, m: matrix_mod.Matrix, as_of: str
) -> tuple[Findings, frozenset[str]]:
    """What the matrix's runtime rows say of these facts, in stages: the Lambda layer's
    Python, the rows of the tracer's line, the platform, the Python version. A stage that
    leaves nothing to judge ends the walk. Then library injection's Python gate and the
    Lambda runtime's lifecycle, which hold whatever the rows said."""
    out: list[model.Finding] = []
    not_checked = _runtime_rows_findings(facts, ddt, m, out)
    if ddt is not None and facts.sources.ddtrace == "library_injection" and m.injection:
        out.extend(_injection_findings(facts.python, ddt, m))
    if facts.deployment_type == "lambda" and facts.python and m.lambda_runtimes:
        out.extend(_lambda_runtime_findings(facts.python, m, as_of))
    known = m.known
    if (
        facts.lambda_layer is not None
        and known is not None
        and known.lambda_layer_latest is not None
        and facts.lambda_layer > known.lambda_layer_latest
    ):
        out.append(
            codes.finding(
                "FACTS_OLDER_THAN_RELEASE",
                "layer",
                observed=str(facts.lambda_layer),
                newest=known.lambda_layer_latest,
                read=known.read,
            )
        )
    return tuple(out), not_checked


def _runtime_rows_findings(
    facts: model.Facts,
    ddt: versions.Interval | None,
    m: matrix_mod.Matrix,
    out: list[model.Finding],
) -> frozenset[str]:
    not_checked: set[str] = set()
    mismatch = _layer_mismatch(facts)
    if mismatch is not None:
        out.append(mismatch)
    candidates, partial, spanning, done = _line_rows(ddt, m, out)
    if not done:
        # Knowing less never judges harsher: with ddtrace unknown, or a range the matrix
        # covers only in part, a runtime outside the known rows leaves the answer open.
        bad: model.Effect = "unknown" if partial or ddt is None else "unsupported"
        on_os = _platform_rows(facts.platform, candidates, bad, out, not_checked)
        if on_os is not None:
            _python_findings(facts.python, on_os, ddt, bad, spanning, out, not_checked)
    return frozenset(not_checked)


def _injection_findings(
    python: str | None, ddt: versions.Interval, m: matrix_mod.Matrix
) -> Findings:
    """Library injection's Python gate (matrix ``injection``): outside it the injector
    stops and the application runs without ddtrace. Certain when every row of the
    injected version excludes the Python, open when only some do."""
    pm = versions.python_minor(python) if python else None
    if pm is None:
        return ()
    rows = [
        (r, py)
        for r, iv, py in m.injection_intervals
        if versions.coverage(ddt, iv) is not versions.Coverage.NONE
    ]
    if not rows:
        return ()  # an injector the matrix has no rows for: nothing known of its gate
    allowed = [pm in py for _, py in rows]
    if all(allowed):
        return ()
    covered = versions.union_covers(ddt, [versions.parse_range(r.ddtrace) for r, _ in rows])
    certain = not any(allowed) and covered
    pythons = ", ".join(dict.fromkeys(p for r, _ in rows for p in r.python))
    return (
        codes.finding(
            "INJECTION_PYTHON_UNSUPPORTED",
            "default" if certain else "partial",
            effect=None if certain else "unknown",
            required=pythons,
            observed=str(ddt),
            python=f"{pm[0]}.{pm[1]}",
        ),
    )


def _lambda_runtime_findings(python: str, m: matrix_mod.Matrix, as_of: str) -> Findings:
    """AWS's lifecycle of the function's Lambda runtime (matrix ``lambda_runtimes``)."""
    pm = versions.python_minor(python)
    row = m.lambda_runtime.get(f"python{pm[0]}.{pm[1]}") if pm else None
    if row is None or as_of < row.deprecated:
        return ()
    blocks = [
        f"{what} {'blocked since' if as_of >= day else 'blocked from'} {day}"
        for what, day in (
            ("creating functions", row.create_blocked),
            ("updating them", row.update_blocked),
        )
        if day
    ]
    return (
        codes.finding(
            "LAMBDA_RUNTIME_DEPRECATED",
            required=None,
            observed=row.runtime,
            runtime=row.runtime,
            deprecated=row.deprecated,
            blocks=f"; {', '.join(blocks)}" if blocks else "",
        ),
    )


def _layer_mismatch(facts: model.Facts) -> model.Finding | None:
    """A Datadog Lambda layer built for another Python than the function runs."""
    if not (facts.layer_python and facts.python):
        return None
    runs, built = versions.python_minor(facts.python), versions.python_minor(facts.layer_python)
    if not runs or not built or runs == built:
        return None
    return codes.finding(
        "LAMBDA_LAYER_MISMATCH",
        required=f"{runs[0]}.{runs[1]}",
        observed=f"{built[0]}.{built[1]}",
        layer_name=f"{runs[0]}{runs[1]}",
    )


def _line_rows(
    ddt: versions.Interval | None, m: matrix_mod.Matrix, out: list[model.Finding]
) -> tuple[list[_Candidate], bool, bool, bool]:
    """The runtime rows of the tracer's line: (candidates, partial, spanning, done);
    ``done`` when no row covers the tracer at all (the finding says so)."""
    rows = m.runtime_intervals
    if ddt is None:
        return [(r, py) for r, _, py in rows], False, False, False
    cov = [(r, iv, py, versions.coverage(ddt, iv)) for r, iv, py in rows]
    overlapping = [(r, py) for r, _, py, c in cov if c is not versions.Coverage.NONE]
    single = any(c is versions.Coverage.ALL for _, _, _, c in cov)
    # a range across the rows of a line split by wheel sets (>=3,<3.16 and >=3.16,<4)
    spanning = not single and versions.union_covers(
        ddt, [iv for _, iv, _, c in cov if c is not versions.Coverage.NONE]
    )
    if not overlapping:
        out.append(
            codes.finding(
                "MATRIX_NOT_COVERED",
                "no_rows",
                required=_span([iv for _, iv, _ in rows]),
                observed=str(ddt),
            )
        )
        return [], False, spanning, True
    partial = not (single or spanning)
    if partial:
        out.append(
            codes.finding(
                "MATRIX_NOT_COVERED",
                "partial",
                required=_span([iv for _, iv, _, c in cov if c is not versions.Coverage.NONE]),
                observed=str(ddt),
            )
        )
    return overlapping, partial, spanning, False


def _span(intervals: list[versions.Interval]) -> str | None:
    """The releases some of ``intervals`` cover, as one range in a user's words
    (``>=1.0,<5``; the gaps between them are not named)."""
    if not intervals:
        return None
    lows = [iv for iv in intervals if iv.lo is not None]
    highs = [iv for iv in intervals if iv.hi is not None]
    parts = []
    if len(lows) == len(intervals):
        lo = min(lows, key=lambda iv: (iv.lo, not iv.lo_closed))
        parts.append(f"{'>=' if lo.lo_closed else '>'}{lo.lo}")
    if len(highs) == len(intervals):
        hi = max(highs, key=lambda iv: (iv.hi, iv.hi_closed))
        parts.append(f"{'<=' if hi.hi_closed else '<'}{hi.hi}")
    return ",".join(parts) or "any release"


def _platform_rows(
    plat: model.Platform,
    candidates: list[_Candidate],
    bad: model.Effect,
    out: list[model.Finding],
    not_checked: set[str],
) -> list[_Candidate] | None:
    """The candidate rows for the workload's OS and architectures; None when none is
    left (the finding says why)."""
    if plat.os is None:
        not_checked.add("platform")
        return candidates
    on_os = [(r, py) for r, py in candidates if r.os == plat.os]
    if not on_os:
        out.append(
            codes.finding(
                "PLATFORM_UNSUPPORTED",
                "os",
                effect=bad,
                required=", ".join(sorted({r.os for r, _ in candidates})),
                observed=str(plat),
                os=plat.os,
            )
        )
        return None
    if not plat.arch:
        not_checked.add("platform")
        return on_os
    ok = [a for a in plat.arch if any(a in r.arch for r, _ in on_os)]
    if len(ok) != len(plat.arch):
        allowed = sorted({a for r, _ in on_os for a in r.arch})
        effect: model.Effect = bad if not ok else "unknown"
        out.append(
            codes.finding(
                "PLATFORM_UNSUPPORTED",
                "some_arch" if ok else "arch",
                effect=effect,
                required=f"{plat.os}/{{{','.join(allowed)}}}",
                observed=str(plat),
                os=plat.os,
            )
        )
        if not ok:
            return None
    return [(r, py) for r, py in on_os if any(a in r.arch for a in plat.arch)]


def _python_findings(
    python: str | None,
    on_os: list[_Candidate],
    ddt: versions.Interval | None,
    bad: model.Effect,
    spanning: bool,
    out: list[model.Finding],
    not_checked: set[str],
) -> None:
    """What the rows left say of the workload's Python."""
    if python is None:
        not_checked.add("python")
        out.append(codes.finding("PYTHON_UNKNOWN", "missing"))
        return
    free_threaded = _FREE_THREADED.match(python) is not None
    pm = versions.python_minor(python.strip().rstrip("tT") if free_threaded else python)
    if pm is not None and free_threaded:
        # no published wheel is free-threaded (make facts refuses to derive if one is)
        out.append(
            codes.finding(
                "PYTHON_UNSUPPORTED",
                "free_threaded",
                effect=bad,
                required=_fmt_pythons([r for r, _ in on_os]),
                observed=python.strip(),
                python=f"{pm[0]}.{pm[1]}",
            )
        )
        return
    if pm is None:
        # python:3 floats across minor versions; anything else is not a version
        variant = "floating" if python.strip().isdigit() else "unreadable"
        out.append(codes.finding("PYTHON_UNKNOWN", variant, observed=python))
    elif not any(pm in py for _, py in on_os):
        out.append(
            codes.finding(
                "PYTHON_UNSUPPORTED",
                "default" if ddt is not None else "no_known_line",
                effect=bad,
                required=_fmt_pythons([r for r, _ in on_os]),
                observed=python,
                python=f"{pm[0]}.{pm[1]}",
                for_ddtrace=f" for ddtrace {ddt}" if ddt is not None else "",
            )
        )
    elif spanning and not all(pm in py for _, py in on_os):
        out.append(
            codes.finding(
                "PYTHON_UNSUPPORTED",
                "partial",
                effect="unknown",
                required=_fmt_pythons([r for r, _ in on_os]),
                observed=python,
                python=f"{pm[0]}.{pm[1]}",
                ddtrace=ddt,
            )
        )


# CPython built without the GIL: 3.13t, 3.14t (the ABI tag's `t`)
_FREE_THREADED = re.compile(r"^\s*\d+\.\d+(?:\.\d+)?t\s*$", re.IGNORECASE)


def _framework_findings(
    feature: str, fws: tuple[tuple[str, str], ...], m: matrix_mod.Matrix
) -> Findings:
    out: list[model.Finding] = []
    by_name = {row.framework: row for row in m.frameworks}
    for name, ver in fws:
        row = by_name.get(name)
        observed = f"{name}=={ver}" if ver else name
        if row is None or not row.features.get(feature):  # type: ignore[call-overload]
            listed = sorted(r.framework for r in m.frameworks if r.features.get(feature))  # type: ignore[call-overload]
            out.append(
                codes.finding(
                    "FRAMEWORK_UNSUPPORTED",
                    "not_listed",
                    required=", ".join(listed),
                    observed=observed,
                    name=name,
                    feature=feature,
                )
            )
            continue
        cov = _framework_coverage(ver, (versions.at_least(row.min_version),))
        if cov is not versions.Coverage.ALL:
            certain = cov is versions.Coverage.NONE
            out.append(
                codes.finding(
                    "FRAMEWORK_UNSUPPORTED",
                    "too_old" if certain else "maybe_old",
                    effect=None if certain else "unknown",
                    required=f"{name}>={row.min_version}",
                    observed=observed,
                    name=name,
                    version=ver or "(version unknown)",
                    minimum=row.min_version,
                )
            )
        for cav in m.caveats:
            if cav.framework == name and feature in cav.features:
                out.append(
                    codes.finding(cav.code, effect="none", observed=observed, message=cav.message)
                )
    return tuple(out)


def _framework_coverage(ver: str, allowed: tuple[versions.Interval, ...]) -> versions.Coverage:
    if not ver:
        return versions.Coverage.SOME
    try:
        iv = versions.parse_range(ver, major_pin_is_range=False)
    except versions.VersionSyntaxError:
        return versions.Coverage.SOME
    return versions.coverage_any(iv, allowed)


def _auth_findings(
    feature: str, fws: tuple[tuple[str, str], ...], m: matrix_mod.Matrix
) -> Findings:
    rows = [r for r in m.auth_frameworks if feature in r.features]
    present = dict(fws)
    best: versions.Coverage = versions.Coverage.NONE
    observed: list[str] = []
    for row in rows:
        if row.framework not in present:
            continue
        ver = present[row.framework]
        observed.append(f"{row.framework}=={ver}" if ver else row.framework)
        allowed = tuple(versions.parse_range(s, major_pin_is_range=False) for s in row.versions)
        cov = _framework_coverage(ver, allowed)
        if cov is versions.Coverage.ALL or (
            cov is versions.Coverage.SOME and best is versions.Coverage.NONE
        ):
            best = cov
    if best is versions.Coverage.ALL:
        return ()
    required = "; ".join(f"{r.framework} {', '.join(r.versions)}" for r in rows)
    shown = ", ".join(observed) or ", ".join(n for n, _ in fws) or "none"
    return (
        codes.finding(
            "AUTH_FRAMEWORK_UNSUPPORTED",
            effect=None if best is versions.Coverage.NONE else "unknown",
            required=required,
            observed=shown,
            found=shown,
        ),
    )


class Caches(msgspec.Struct):
    """The evaluator's memos, one per part of a judgement, each keyed by exactly the
    facts that part reads (fleets repeat each part far more often than whole facts)."""

    facts: cache_mod.Cache[tuple[model.Facts, frozenset[str]], FactsFindings]
    common: cache_mod.Cache[str | None, tuple[Findings, versions.Interval | None]]
    # (ddtrace, python, platform, layer's Python, deployment type, where ddtrace came
    # from, Lambda layer)
    runtime: cache_mod.Cache[
        tuple[
            str | None,
            str | None,
            model.Platform,
            str | None,
            model.DeploymentType,
            model.FactSource | None,
            int | None,
        ],
        tuple[Findings, frozenset[str]],
    ]
    feature: cache_mod.Cache[tuple[str, str | None, str], tuple[Findings, bool]]
    frameworks: cache_mod.Cache[tuple[str, tuple[tuple[str, str], ...]], Findings]
    auth: cache_mod.Cache[tuple[str, tuple[tuple[str, str], ...]], Findings]
    # (feature, switch variables set, ddtrace, deployment type, Lambda layer) -> findings
    settings: cache_mod.Cache[tuple[str, frozenset[str], str | None, str, int | None], Findings]
    # (facts, required, exempt features) -> results under this evaluator's policy
    results: cache_mod.Cache[tuple[model.Facts, frozenset[str], frozenset[str]], PolicyResults]
    # (findings, required, exempt) -> one feature's result under this policy
    feature_results: cache_mod.Cache[tuple[Findings, bool, bool, bool], model.FeatureResult]

    @classmethod
    def create(cls, max_bytes: int) -> Caches:
        share = max(max_bytes // 8, 0)
        return cls(
            **{name: cache_mod.Cache(f"evaluator.{name}", share) for name in cls.__struct_fields__}
        )

    def all(self) -> tuple[cache_mod.Cache[Any, Any], ...]:
        return tuple(getattr(self, name) for name in self.__struct_fields__)


class Evaluator:
    """Judges workloads against one matrix under one policy, remembering what it worked
    out in caches it owns (see :class:`Caches`). A front end makes one per run or per
    app; nothing is shared between evaluators."""

    __slots__ = ("_cache_bytes", "_next_day", "as_of", "caches", "clock", "matrix", "policy")

    def __init__(
        self,
        matrix: matrix_mod.Matrix,
        policy: policy_mod.Policy = policy_mod.DEFAULT,
        *,
        as_of: datetime.date | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``as_of``: the day release lifecycles are judged on; None: today, following
        the calendar of ``clock`` (a long-running front end starts afresh each day)."""
        self.matrix = matrix
        self.policy = policy
        self.clock = clock
        self._cache_bytes = cache_bytes
        self.caches = Caches.create(cache_bytes)
        now = clock()
        self.as_of = (as_of or datetime.date.fromtimestamp(now)).isoformat()
        # when "today" ends (never for a fixed date)
        self._next_day = math.inf if as_of is not None else _next_midnight(now)

    def day(self) -> str:
        """The day judged (ISO), moved on when the calendar has: what every cache of
        judgements must be keyed by."""
        now = self.clock()
        if now >= self._next_day:  # a new day: lifecycles may have moved
            self.as_of = datetime.date.fromtimestamp(now).isoformat()
            self.caches = Caches.create(self._cache_bytes)
            self._next_day = _next_midnight(now)
        return self.as_of

    def evaluate(self, workload: model.WorkloadContainer) -> model.WorkloadResult:
        self.day()
        policy = self.policy
        required = policy.required_features(workload) if policy.require else _NOTHING
        exemption = policy.exemption(workload) if policy.exemptions else None
        exempt = workload.exempt
        source: model.ExemptSource | None = None
        refused = False
        if exempt is not None:
            if policy.annotation_exemptions.allows(workload):
                source = "annotation"
            else:  # self-exemption where the policy does not allow it: judged as usual
                exempt, refused = None, True
        exempt_features = _NOTHING
        if exemption is not None:
            if exemption.features:
                exempt_features = frozenset(exemption.features)
            elif exempt is None:
                exempt, source = exemption.reason, "policy"
        features, not_checked, worst = self._apply_policy(workload.facts, required, exempt_features)
        return model.WorkloadResult(workload, features, not_checked, exempt, worst, source, refused)

    def common(self, ddtrace: str | None) -> tuple[Findings, versions.Interval | None]:
        """What the matrix says of a ddtrace version itself on the day judged (its line's
        lifecycle, a release newer than the facts) and its interval; remembered."""
        c = self.caches
        return c.common.get(ddtrace) or c.common.put(
            ddtrace, _common_findings(ddtrace, self.matrix, self.as_of)
        )

    def facts_findings(self, facts: model.Facts, features: frozenset[str]) -> FactsFindings:
        """What the matrix says about ``features`` for these facts (no policy applied)."""
        memo = self.caches.facts
        key = (facts, features)
        hit = memo.get(key)
        if hit is not None:
            return hit
        return memo.put(key, self._facts_findings(facts, features))

    def _facts_findings(self, facts: model.Facts, features: frozenset[str]) -> FactsFindings:
        m, c = self.matrix, self.caches
        not_checked: set[str] = set()
        ddtrace = facts.ddtrace
        if ddtrace is None:
            not_checked.add("ddtrace")
        common, ddt = self.common(ddtrace)
        rt_key = (
            ddtrace,
            facts.python,
            facts.platform,
            facts.layer_python,
            facts.deployment_type,
            facts.sources.ddtrace,
            facts.lambda_layer,
        )
        runtime, rt_not_checked = c.runtime.get(rt_key) or c.runtime.put(
            rt_key, _runtime_findings(facts, ddt, m, self.as_of)
        )
        not_checked |= rt_not_checked
        result: dict[str, Findings] = {}
        for feature in sorted(features):
            row = m.feature_by_id.get(feature)
            if row is None:
                result[feature] = (codes.finding("MATRIX_NOT_COVERED", "feature", feature=feature),)
                continue
            f_key = (feature, ddtrace, facts.deployment_type)
            head, deployment_checked = c.feature.get(f_key) or c.feature.put(
                f_key, _feature_findings(row, ddtrace, ddt, common, facts.deployment_type, m)
            )
            if not deployment_checked:
                not_checked.add("deployment")
            found = head + runtime
            frameworks = facts.frameworks
            for checked, memo, check in (
                (m.framework_checked_features, c.frameworks, _framework_findings),
                (m.auth_checked_features, c.auth, _auth_findings),
            ):
                if feature not in checked:
                    continue
                if frameworks is None:
                    not_checked.add("frameworks")
                    continue
                fw_key = (feature, frameworks)
                fw = memo.get(fw_key)
                if fw is None:
                    fw = memo.put(fw_key, check(feature, frameworks, m))
                found += fw
            if row.requires_remote_config and facts.remote_config is False:
                found += (
                    codes.finding(
                        "REMOTE_CONFIG_DISABLED",
                        required="DD_REMOTE_CONFIGURATION_ENABLED=true",
                        observed="DD_REMOTE_CONFIGURATION_ENABLED=false",
                        title=row.title,
                    ),
                )
            if ddt is not None and feature in m.restrictions_by_feature:
                found += _restricted(row, facts, ddt, m)
            if facts.deployment_type == "lambda" and facts.lambda_layer is not None:
                found += _layer_rows(row, facts, facts.lambda_layer, m)
            if facts.settings and m.settings:
                s_key = (
                    feature,
                    facts.settings,
                    ddtrace,
                    facts.deployment_type,
                    facts.lambda_layer,
                )
                ignored = c.settings.get(s_key)
                if ignored is None:
                    ignored = c.settings.put(s_key, _ignored_settings(feature, facts, ddt, m))
                found += ignored
            result[feature] = found
        return result, frozenset(not_checked)

    def _on_by_default(self, facts: model.Facts) -> frozenset[str]:
        """Capabilities the tracer turns on by itself for these facts (matrix
        ``defaults``), that the workload did not ask for nor turn off."""
        m = self.matrix
        if not m.defaults or facts.ddtrace is None:
            return _NOTHING
        _, ddt = self.common(facts.ddtrace)
        if ddt is None:
            return _NOTHING
        support = m.deployment_support
        return frozenset(
            row.feature
            for row, iv in m.default_on
            if row.when in facts.features
            and row.feature not in facts.features
            and not facts.switched_off.intersection(row.off_by)
            and versions.coverage(ddt, iv) is versions.Coverage.ALL
            # where the deployment type cannot run it, the tracer does not either
            and getattr(support.get((facts.deployment_type, row.feature)), "supported", True)
            and not self._layer_turns_off(facts, row.feature)
        )

    def _layer_turns_off(self, facts: model.Facts, feature: str) -> bool:
        """Whether the function's Datadog Lambda layer turns ``feature`` off."""
        if facts.deployment_type != "lambda" or facts.lambda_layer is None:
            return False
        rows = self.matrix.layer_rows_for(feature, facts.lambda_layer)
        return any(r.effect == "off" for r in rows)

    def _apply_policy(
        self,
        facts: model.Facts,
        required: frozenset[str],
        exempt_features: frozenset[str],
    ) -> PolicyResults:
        """Per-feature results under the policy (and the worst severity among them);
        equal facts share one result."""
        c = self.caches
        key = (facts, required, exempt_features)
        hit = c.results.get(key)
        if hit is not None:
            return hit
        implied = self._on_by_default(facts)
        per_feature, not_checked = self.facts_findings(facts, facts.features | required | implied)
        results: dict[str, model.FeatureResult] = {}
        made_results = c.feature_results
        for feature, findings in per_feature.items():
            # Many facts give one feature the same findings: each result is made once.
            fr_key = (
                findings,
                feature in required,
                feature in exempt_features,
                feature in implied and feature not in required,
            )
            made = made_results.get(fr_key)
            if made is None:
                made = made_results.put(fr_key, _feature_result(self.policy, *fr_key))
            results[feature] = made
        nc = tuple(sorted(not_checked))
        return c.results.put(key, (results, nc, model.max_severity(results)))


def _restricted(
    row: matrix_mod.FeatureRow, facts: model.Facts, ddt: versions.Interval, m: matrix_mod.Matrix
) -> Findings:
    """Where the feature does not run although the tracer does (matrix restrictions):
    certain when the whole of ``ddt`` is restricted, ``unknown`` when part of it is."""
    out: list[model.Finding] = []
    pm = versions.python_minor(facts.python) if facts.python else None
    os_ = facts.platform.os
    for r, iv, pythons in m.restrictions_by_feature[row.id]:
        cov = versions.coverage(ddt, iv)
        if cov is versions.Coverage.NONE:
            continue
        effect: model.Effect | None = None if cov is versions.Coverage.ALL else "unknown"
        if pm is not None and pm in pythons:
            out.append(
                codes.finding(
                    "PYTHON_UNSUPPORTED",
                    "feature",
                    effect=effect,
                    required=f"not {', '.join(r.python)} for ddtrace {r.ddtrace}",
                    observed=str(ddt),
                    title=row.title,
                    python=f"{pm[0]}.{pm[1]}",
                )
            )
        if os_ is not None and os_ in r.os:
            out.append(
                codes.finding(
                    "PLATFORM_UNSUPPORTED",
                    "feature",
                    effect=effect,
                    required=f"not {', '.join(r.os)} for ddtrace {r.ddtrace}",
                    observed=str(ddt),
                    title=row.title,
                    os=os_,
                )
            )
    return tuple(out)


def _layer_rows(
    row: matrix_mod.FeatureRow, facts: model.Facts, layer_version: int, m: matrix_mod.Matrix
) -> Findings:
    """What the function's Datadog Lambda layer does to the feature (matrix
    ``lambda_layers``)."""
    out: list[model.Finding] = []
    layer = str(layer_version)
    for r in m.layer_rows_for(row.id, layer_version):
        if r.effect == "off":
            out.append(
                codes.finding(
                    "LAMBDA_FEATURE_OFF",
                    required=f">={r.supported_from}" if r.supported_from else None,
                    observed=layer,
                    title=row.title,
                    detail=r.detail,
                    supported_from=r.supported_from,
                )
            )
        elif r.variable is None or r.variable in facts.settings:
            out.append(
                codes.finding(
                    "LAMBDA_LAYER_EARLY",
                    required=f">={r.supported_from}" if r.supported_from else None,
                    observed=layer,
                    variable=r.variable or row.title,
                    detail=r.detail,
                )
            )
    return tuple(out)


def _ignored_settings(
    feature: str, facts: model.Facts, ddt: versions.Interval | None, m: matrix_mod.Matrix
) -> Findings:
    """SETTING_IGNORED for each variable set to turn ``feature`` on that no version of
    ``ddt`` reads, or (on Lambda) no release of the Datadog layer in use reads; a range
    partly reading it is left alone: it may be read."""
    out: list[model.Finding] = []
    for variable in sorted(facts.settings):
        rows = m.settings_by_variable.get(variable)
        if not rows or feature not in signals.SWITCH_FEATURES.get(variable, ()):
            continue
        instead = next((r.instead for r, _, _ in rows if r.instead), None)
        instead_text = f"; set {instead} instead" if instead else ""
        by_version = [(r, iv) for r, iv, _ in rows if iv is not None]
        if (
            ddt is not None
            and by_version
            and all(versions.coverage(ddt, iv) is versions.Coverage.NONE for _, iv in by_version)
        ):
            required = ", ".join(r.ddtrace or "" for r, _ in by_version)
            out.append(
                codes.finding(
                    "SETTING_IGNORED",
                    required=required,
                    observed=str(ddt),
                    variable=variable,
                    instead=instead_text,
                )
            )
        layer = facts.lambda_layer
        by_layer = [(r, lv) for r, _, lv in rows if lv is not None]
        if facts.deployment_type == "lambda" and layer is not None and by_layer:
            at = versions.parse_range(str(layer))
            if all(versions.coverage(at, lv) is versions.Coverage.NONE for _, lv in by_layer):
                out.append(
                    codes.finding(
                        "SETTING_IGNORED",
                        "lambda",
                        required=", ".join(r.lambda_layer or "" for r, _ in by_layer),
                        observed=str(layer),
                        variable=variable,
                        instead=instead_text,
                    )
                )
    return tuple(out)


def _next_midnight(now: float) -> float:
    tomorrow = datetime.date.fromtimestamp(now) + datetime.timedelta(days=1)
    return datetime.datetime.combine(tomorrow, datetime.time()).timestamp()


def _common_findings(
    ddtrace: str | None, m: matrix_mod.Matrix, as_of: str
) -> tuple[Findings, versions.Interval | None]:
    """Findings about the ddtrace version itself as of a day (its release line's support
    level), and its interval (None if unknown)."""
    if ddtrace is None:
        return (), None
    latest = m.latest
    try:
        if ddtrace == versions.UNPINNED:
            return (codes.finding("DDTRACE_UNKNOWN", "unpinned"),), None
        if ddtrace.strip().lower() in _LATEST:
            # library injection's `latest`: the newest release the edition knows
            if latest is None:
                return (codes.finding("DDTRACE_UNKNOWN", "latest", observed=ddtrace),), None
            ddt = versions.parse_range(latest.ddtrace)
        else:
            ddt = versions.parse_range(ddtrace)
    except versions.VersionSyntaxError as exc:
        finding = codes.finding("DDTRACE_UNKNOWN", "unreadable", observed=ddtrace, error=exc)
        return (finding,), None
    common: list[model.Finding] = []
    in_force = [rb for rb in m.release_branches if rb.applies_on(as_of)]
    for rb in in_force:
        if versions.coverage(ddt, versions.parse_range(rb.ddtrace)) is not versions.Coverage.ALL:
            continue
        code = _LEVEL_CODES.get(rb.level)
        if code is not None:
            common.append(
                codes.finding(
                    code,
                    "forecast" if rb.forecast and code == "DDTRACE_END_OF_LIFE" else "default",
                    required=", ".join(
                        r.ddtrace for r in in_force if r.level == "general_availability"
                    )
                    or None,
                    observed=str(ddt),
                    branch=rb.ddtrace,
                    as_of=as_of,
                    estimate=rb.estimate or "an estimate",
                )
            )
        if rb.forecast and rb.until is not None:
            last = datetime.date.fromisoformat(rb.until) - datetime.timedelta(days=1)
            common.append(
                codes.finding(
                    "LIFECYCLE_FORECAST",
                    observed=str(ddt),
                    branch=rb.ddtrace,
                    level=rb.level.replace("_", " "),
                    until=last.isoformat(),
                    estimate=rb.estimate or "an estimate",
                )
            )
    newer = _newer_than_known(ddt, m)
    if newer is not None:
        common.append(newer)
    return tuple(common), ddt


def _newer_than_known(ddt: versions.Interval, m: matrix_mod.Matrix) -> model.Finding | None:
    """FACTS_OLDER_THAN_RELEASE when every version of ``ddt`` is newer than the newest
    release of its line the facts know (a line they do not know is MATRIX_NOT_COVERED)."""
    known = m.known
    if known is None or ddt.lo is None:
        return None
    line = str(ddt.lo.major)
    newest = known.ddtrace_lines.get(line)
    if newest is None:
        return None
    top = versions.parse_range(newest).lo
    if top is None or not (ddt.lo > top or (ddt.lo == top and not ddt.lo_closed)):
        return None
    return codes.finding(
        "FACTS_OLDER_THAN_RELEASE",
        observed=str(ddt),
        line=line,
        newest=newest,
        read=known.read,
    )


_LATEST = frozenset({"latest", "vlatest"})
# A release line's support level -> the finding it gives (general availability: none).
_LEVEL_CODES = {"maintenance": "MAINTENANCE_BRANCH", "end_of_life": "DDTRACE_END_OF_LIFE"}


def _feature_findings(
    row: matrix_mod.FeatureRow,
    ddtrace: str | None,
    ddt: versions.Interval | None,
    common: Findings,
    deployment_type: model.DeploymentType,
    m: matrix_mod.Matrix,
) -> tuple[Findings, bool]:
    """A feature's findings from the ddtrace version and the deployment type (followed
    by the version's common findings), and whether the deployment type was checked."""
    found: list[model.Finding] = []
    if row.preview:
        found.append(codes.finding("PREVIEW_FEATURE", title=row.title))
    elif ddtrace is None:
        found.append(codes.finding("DDTRACE_UNKNOWN", "missing", required=f">={row.min_ddtrace}"))
    elif ddt is not None and row.min_ddtrace is not None:
        cov = versions.coverage(ddt, versions.at_least(row.min_ddtrace))
        if cov is versions.Coverage.NONE:
            found.append(
                codes.finding(
                    "DDTRACE_TOO_OLD",
                    required=f">={row.min_ddtrace}",
                    observed=str(ddt),
                    title=row.title,
                    minimum=row.min_ddtrace,
                    note=f" ({row.min_note})" if row.min_note else "",
                )
            )
        elif cov is versions.Coverage.SOME:
            found.append(
                codes.finding(
                    "DDTRACE_UNKNOWN",
                    "range",
                    required=f">={row.min_ddtrace}",
                    observed=str(ddt),
                    title=row.title,
                    minimum=row.min_ddtrace,
                )
            )
    found.extend(common)
    dep = m.deployment_support.get((deployment_type, row.id))
    if dep is not None and not dep.supported:
        found.append(
            codes.finding(
                "DEPLOYMENT_UNSUPPORTED",
                required=", ".join(
                    d.deployment_type for d in m.deployments if d.feature == row.id and d.supported
                ),
                observed=deployment_type,
                title=row.title,
                deployment_type=deployment_type,
            )
        )
    return tuple(found), dep is not None


def status_of(findings: Findings) -> model.Status:
    worst: model.Effect = "none"
    for f in findings:
        if model.EFFECT_RANK[f.effect] > model.EFFECT_RANK[worst]:
            worst = f.effect
    return model.EFFECT_STATUS[worst]


def evaluate(
    workload: model.WorkloadContainer,
    matrix: matrix_mod.Matrix,
    policy: policy_mod.Policy = policy_mod.DEFAULT,
    *,
    as_of: datetime.date | None = None,
) -> model.WorkloadResult:
    """One workload judged by a new :class:`Evaluator` (nothing remembered between
    calls; front ends keep an Evaluator instead)."""
    return Evaluator(matrix, policy, as_of=as_of).evaluate(workload)


def _left_open(f: model.Finding) -> bool:
    """A finding whose code is certain by nature (an unsupported runtime, a too-old
    tracer) but that the facts left open: never judged as harshly as the certain one."""
    return f.effect == "unknown" and codes.BY_CODE[f.code].effect != "unknown"


def _feature_result(
    policy: policy_mod.Policy, findings: Findings, required: bool, exempt: bool, by_default: bool
) -> model.FeatureResult:
    """One feature's findings under a policy; a capability judged only because the
    tracer turns it on by default warns at most."""
    reasons: list[model.Reason] = []
    for f in findings:
        sev = policy.severity(f.code)
        if sev is None:
            continue
        if exempt:
            sev = "info"
        elif sev == "error" and (by_default or _left_open(f)):
            sev = "warning"
        reasons.append(model.Reason(f.code, sev, f.message, f.required, f.observed))
    return model.FeatureResult(
        status=status_of(findings),
        reasons=tuple(reasons),
        required_by_policy=required,
        by_default=by_default,
    )
