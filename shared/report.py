"""Renderers of an evaluated run: JSON (the contract), table, SARIF 2.1.0 and JUnit XML."""

from __future__ import annotations

import datetime
import functools
import json
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from ddcompat.shared import codes, evaluator, fixes, model, signals, versions
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared.text import printable, xml_safe

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

SCHEMA_VERSION: Literal[2] = 2
TOOL_URI = "https://github.com/ddcompat/ddcompat"


# The JSON report (docs/contract.md) as typed structs: fields in the contract's order, encoded
# by msgspec straight from these (no intermediate dicts).


class ReasonJSON(msgspec.Struct, gc=False):
    code: model.Code
    severity: model.Severity
    required: str | None
    observed: str | None
    message: str


class FeatureJSON(msgspec.Struct, gc=False):
    status: model.Status
    required_by_policy: bool
    reasons: list[ReasonJSON]
    by_default: bool


class WorkloadJSON(msgspec.Struct, gc=False):
    id: str
    source: str
    deployment_type: model.DeploymentType
    kind: str
    namespace: str | None
    name: str
    container: str
    ddtrace_version: str | None
    python_version: str | None
    platform: str | None
    exempt: str | None
    # dict[str, FeatureJSON], encoded: workloads with equal facts share their feature
    # results (the evaluator's memo), which are encoded once and copied as bytes.
    features: msgspec.Raw
    not_checked: tuple[str, ...]
    verdict: model.Verdict
    facts_source: model.FactSources
    exempt_source: str | None  # annotation (ddcompat.io/exempt) or policy
    # for an unverified workload: the facts to supply to decide it, and how
    verify: list[VerifyJSON]
    # for a noncompliant workload: the smallest changes that close its gaps
    fix: list[fixes.Fix]


class VerifyJSON(msgspec.Struct, gc=False):
    fact: str  # ddtrace, python, platform, frameworks, lambda_layer
    how: str


class ErrorJSON(msgspec.Struct, gc=False):
    source: str
    field: str | None
    message: str


class SummaryJSON(msgspec.Struct, gc=False):
    workloads: int  # = compliant + noncompliant + unverified + exempt
    compliant: int
    noncompliant: int
    unverified: int
    exempt: int
    fail_on: model.Severity  # the severity the verdicts were judged at
    skipped_containers: int
    ignored_files: int
    errors: int
    not_python: int
    warnings: int
    kinds_not_understood: int
    exempt_by_source: dict[str, int]  # annotation, policy
    exemptions_refused: int  # ddcompat.io/exempt where the policy does not allow it


class NotPythonJSON(msgspec.Struct, gc=False):
    source: str
    workload: str  # kind/namespace/name, as in a workload id
    container: str
    language: str
    reason: str


class IgnoredFileJSON(msgspec.Struct, gc=False):
    path: str
    reason: str


class NotUnderstoodJSON(msgspec.Struct, gc=False):
    source: str
    kind: str
    api_version: str | None
    name: str | None
    field: str | None
    reason: str


class MatrixJSON(msgspec.Struct, gc=False):
    name: str
    version: str
    edition: str | None
    as_of: str
    # the day the facts about the vendor's releases were read (``make facts``), if known
    facts_read: str | None = None


class ReportJSON(msgspec.Struct, gc=False):
    schema_version: Literal[2]
    matrix: MatrixJSON
    workloads: list[WorkloadJSON]
    errors: list[ErrorJSON]
    summary: SummaryJSON
    warnings: list[ErrorJSON]
    not_python: list[NotPythonJSON]
    ignored_files: list[IgnoredFileJSON]
    kinds_not_understood: list[NotUnderstoodJSON]


class Run(msgspec.Struct, frozen=True):
    """Everything a front end renders: results, input errors and the counts."""

    matrix: matrix_mod.Matrix
    results: list[model.WorkloadResult]
    errors: list[model.InputError]
    skipped_containers: int = 0
    ignored_files: tuple[model.IgnoredFile, ...] = ()
    as_of: str = ""  # the ISO date lifecycles were judged on
    not_python: tuple[model.NotPython, ...] = ()
    warnings: tuple[model.InputError, ...] = ()
    kinds_not_understood: tuple[model.NotUnderstood, ...] = ()
    # findings at or above this severity make a workload noncompliant (--fail-on)
    fail_on: model.Severity = "error"
    # unverified workloads fail the run too (--fail-on-unverified)
    fail_on_unverified: bool = False

    def failed(self) -> bool:
        """Whether the run's verdicts fail it (exit status 1)."""
        failing = ("noncompliant", "unverified") if self.fail_on_unverified else ("noncompliant",)
        return any(r.verdict(self.fail_on) in failing for r in self.results)

    def verdict(self, r: model.WorkloadResult) -> model.Verdict:
        return r.verdict(self.fail_on)

    def verdicts(self) -> dict[model.Verdict, int]:
        """How many workloads came to each verdict (every verdict named, in order)."""
        counts = dict.fromkeys(model.VERDICTS, 0)
        for r in self.results:
            counts[r.verdict(self.fail_on)] += 1
        return counts


@functools.lru_cache(maxsize=1024)
def display_ddtrace(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        iv = versions.parse_range(raw)
    except versions.VersionSyntaxError:
        return raw
    return str(iv.exact) if iv.exact is not None else raw.strip()


@functools.lru_cache(maxsize=4096)
def facts_text(f: model.Facts) -> tuple[str | None, str | None, str | None]:
    """ddtrace (as displayed), python and platform of facts, as the JSON report shows them."""
    return display_ddtrace(f.ddtrace), f.python, str(f.platform) or None


def feature_json(fr: model.FeatureResult) -> FeatureJSON:
    return FeatureJSON(
        fr.status,
        fr.required_by_policy,
        [ReasonJSON(x.code, x.severity, x.required, x.observed, x.message) for x in fr.reasons],
        fr.by_default,
    )


class _Encoded:
    """Encodings made during one rendering, by the identity of what they encode: the
    evaluator shares feature results (and whole features dicts) between workloads, and
    the run holds them all while it is rendered, so identities stay valid."""

    __slots__ = ("features", "results")

    def __init__(self) -> None:
        self.features: dict[int, msgspec.Raw] = {}
        self.results: dict[int, msgspec.Raw] = {}

    def of_features(self, features: dict[str, model.FeatureResult]) -> msgspec.Raw:
        raw = self.features.get(id(features))
        if raw is None:
            encode, results = _ENCODER.encode, self.results
            parts = {}
            for name, fr in features.items():
                part = results.get(id(fr))
                if part is None:
                    part = results[id(fr)] = msgspec.Raw(encode(feature_json(fr)))
                parts[name] = part
            raw = self.features[id(features)] = msgspec.Raw(encode(parts))
        return raw


def to_verify(r: model.WorkloadResult) -> list[VerifyJSON]:
    """For an unverified workload: each fact that left a feature open, and how to supply
    it (the reason codes' ``verify`` column), once per fact."""
    if not r.unverified or r.exempt is not None:
        return []
    out: dict[str, str] = {}
    for fr in r.features.values():
        if fr.status != "unknown" or fr.by_default:
            continue
        for x in fr.reasons:
            hint = codes.BY_CODE[x.code].verify
            if hint is not None and hint[0] not in out:
                out[hint[0]] = hint[1]
    return [VerifyJSON(fact, how) for fact, how in out.items()]


class Fixes:
    """The fixes of a run's noncompliant workloads, worked out once per run (a Finder
    over the run's matrix and day; equal facts share their answers)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._finder: fixes.Finder | None = None  # made when a workload first needs one
        self._by_result: dict[int, tuple[fixes.Fix, ...]] = {}

    def of(self, r: model.WorkloadResult) -> tuple[fixes.Fix, ...]:
        if self.run.verdict(r) != "noncompliant":
            return ()
        hit = self._by_result.get(id(r))
        if hit is None:
            if self._finder is None:
                run = self.run
                day = datetime.date.fromisoformat(run.as_of) if run.as_of else None
                self._finder = fixes.Finder(evaluator.Evaluator(run.matrix, as_of=day))
            hit = self._by_result[id(r)] = self._finder.fixes(r)
        return hit


def fix_words(f: fixes.Fix) -> str:
    """``ddtrace 1.9.0 -> 4.0.0 (threat_detection, api_security)``."""
    return f"{f.facet} {f.observed or '?'} -> {f.minimum} ({', '.join(f.features)})"


def workload_json(
    r: model.WorkloadResult,
    encoded: _Encoded | None = None,
    fail_on: model.Severity = "error",
    fixed: Fixes | None = None,
    wid: str | None = None,
) -> WorkloadJSON:
    """One workload; ``encoded`` shares the encoding of shared feature results; ``wid``:
    its id in the report (unique_ids)."""
    w = r.workload
    ddtrace, python, platform = facts_text(w.facts)
    return WorkloadJSON(
        wid or w.id,
        w.source,
        w.deployment_type,
        w.kind,
        w.namespace,
        w.name,
        w.container,
        ddtrace,
        python,
        platform,
        r.exempt,
        (encoded or _Encoded()).of_features(r.features),
        r.not_checked,
        r.verdict(fail_on),
        w.facts.sources,
        r.exempt_source,
        to_verify(r),
        list(fixed.of(r)) if fixed is not None else [],
    )


# facts_source in words (table and SARIF)
SOURCE_WORDS: dict[str, str] = {
    "annotation": "a ddcompat.io annotation or label",
    "library_injection": "Datadog library injection",
    "lambda_layer": "the Datadog Lambda layer (derived from its release)",
    "lambda_runtime": "the Lambda runtime",
    "lambda_architectures": "the Lambda architectures",
    "image_tag": "the image tag",
    "image_config": "the image's config (its registry)",
    "image_layers": "the image's layers (its registry)",
    "dockerfile": "the Dockerfile",
    "lockfile": "a lock or requirements file",
    "env": "the container environment",
    "node_selection": "the node selector or affinity",
    "node": "the node the pod runs on",
    "ecs_runtime_platform": "the ECS runtime platform",
    "compose_platform": "the compose platform",
    "build": "the Dockerfile that builds its image",
    "default": "the platform's default",
}


def facts_in_words(sources: model.FactSources) -> str:
    """``ddtrace from Datadog library injection; Python from the image tag`` ..."""
    parts = [
        f"{facet} from {SOURCE_WORDS[src]}"
        for facet, src in (
            ("ddtrace", sources.ddtrace),
            ("Python", sources.python),
            ("platform", sources.platform),
        )
        if src is not None
    ]
    return "; ".join(parts)


def summary(run: Run) -> SummaryJSON:
    counts = run.verdicts()
    return SummaryJSON(
        workloads=len(run.results),
        compliant=counts["compliant"],
        noncompliant=counts["noncompliant"],
        unverified=counts["unverified"],
        exempt=counts["exempt"],
        fail_on=run.fail_on,
        skipped_containers=run.skipped_containers,
        ignored_files=len(run.ignored_files),
        errors=len(run.errors),
        not_python=len(run.not_python),
        warnings=len(run.warnings),
        kinds_not_understood=len(run.kinds_not_understood),
        exempt_by_source={
            source: sum(1 for r in run.results if r.exempt_source == source)
            for source in ("annotation", "policy")
        },
        exemptions_refused=sum(1 for r in run.results if r.exempt_refused),
    )


def to_report(run: Run) -> ReportJSON:
    encoded = _Encoded()
    fixed = Fixes(run)
    ids = unique_ids(run.results)
    return ReportJSON(
        schema_version=SCHEMA_VERSION,
        matrix=MatrixJSON(
            run.matrix.name,
            run.matrix.version,
            run.matrix.edition,
            run.as_of,
            facts_read(run.matrix),
        ),
        workloads=[workload_json(r, encoded, run.fail_on, fixed, ids[id(r)]) for r in run.results],
        errors=[ErrorJSON(e.source, e.field, e.message) for e in run.errors],
        summary=summary(run),
        warnings=[ErrorJSON(e.source, e.field, e.message) for e in run.warnings],
        not_python=[
            NotPythonJSON(
                n.source,
                f"{n.kind}/{n.namespace or '-'}/{n.name}",
                n.container,
                n.language,
                n.reason,
            )
            for n in run.not_python
        ],
        ignored_files=[IgnoredFileJSON(f.path, f.reason) for f in run.ignored_files],
        kinds_not_understood=[
            NotUnderstoodJSON(k.source, k.kind, k.api_version, k.name, k.field, k.reason)
            for k in run.kinds_not_understood
        ],
    )


def render_json_bytes(run: Run) -> bytes:
    """The JSON report, compact (msgspec encodes it in a fraction of json's time)."""
    return _ENCODER.encode(to_report(run)) + b"\n"


def to_json(run: Run) -> dict[str, Any]:
    """The JSON report as plain data, exactly as ``render_json_bytes`` writes it."""
    data: dict[str, Any] = msgspec.json.decode(render_json_bytes(run))
    return data


_ENCODER = msgspec.json.Encoder()


def _table(rows: list[list[str]], header: list[str], groups: list[str] | None = None) -> str:
    """An aligned table; ``groups``: each row's group (a file), named on a line above its
    first row, the rows indented under it."""
    rows = [[printable(c) for c in r] for r in rows]
    widths = [
        max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i])
        for i in range(len(header))
    ]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(widths[i]) for i, v in enumerate(values)).rstrip()

    lines = [line(header)]
    current = None
    for n, r in enumerate(rows):
        if groups is not None and groups[n] != current:
            current = groups[n]
            lines.append(f"{printable(current)}:")
        lines.append(("  " if groups is not None else "") + line(r))
    return "\n".join(lines)


def unique_ids(results: list[model.WorkloadResult]) -> dict[int, str]:
    """Each result's id in one report: the workload id, with ``#2``, ``#3``... on the
    later ones where two files describe the same workload-container."""
    seen: dict[str, int] = {}
    out: dict[int, str] = {}
    for r in results:
        base = r.workload.id
        n = seen[base] = seen.get(base, 0) + 1
        out[id(r)] = base if n == 1 else f"{base}#{n}"
    return out


# a verdict's place in a report: failing first, then undecided
VERDICT_ORDER: dict[str, int] = {"noncompliant": 0, "unverified": 1, "compliant": 2, "exempt": 3}


def severity_first(severity: str) -> int:
    """A sort key that puts errors first, then warnings, then information."""
    return -model.SEVERITY_RANK.get(severity, -1)


def scope_words(features: tuple[str, ...], r: model.WorkloadResult) -> str:
    """The features a finding concerns: ``every feature`` when it is all of several."""
    if len(r.features) > 1 and len(features) == len(r.features):
        return "every feature"
    return ", ".join(features)


def grouped_findings(
    r: model.WorkloadResult, levels: frozenset[str] = frozenset({"error", "warning"})
) -> list[tuple[model.Reason, tuple[str, ...]]]:
    """A workload's findings once each, with the features they concern (a lifecycle or
    runtime finding shared by every feature is said once), errors first."""
    found: dict[tuple[str, str, str, str | None, str | None], list[str]] = {}
    first: dict[tuple[str, str, str, str | None, str | None], model.Reason] = {}
    for name, fr in r.features.items():
        for x in fr.reasons:
            if x.severity not in levels:
                continue
            key = (x.severity, x.code, x.message, x.required, x.observed)
            found.setdefault(key, []).append(name)
            first.setdefault(key, x)
    return sorted(
        ((first[k], tuple(v)) for k, v in found.items()),
        key=lambda item: (severity_first(item[0].severity), item[0].code),
    )


def render_table(run: Run, *, verbose: bool = False) -> str:
    ids = unique_ids(run.results)
    ordered = sorted(
        run.results,
        key=lambda r: (r.workload.source, VERDICT_ORDER[run.verdict(r)], ids[id(r)]),
    )
    header = ["WORKLOAD", "VERDICT", "FEATURE", "STATUS", "FINDINGS"]
    rows: list[tuple[str, list[str]]] = []  # (source file, row)
    for r in ordered:
        wid, verdict = ids[id(r)], run.verdict(r)
        if not r.features:
            rows.append((r.workload.source, [wid, verdict, "-", "-", "no feature in use"]))
        for name, fr in r.features.items():
            codes = ", ".join(f"{x.code}({x.severity[0].upper()})" for x in fr.reasons) or "-"
            rows.append((r.workload.source, [wid, verdict, name, fr.status, codes]))
    out = [_table([r for _, r in rows], header, [source for source, _ in rows])]
    s = summary(run)
    found = {id(r): grouped_findings(r) for r in run.results}
    lines = [x for r in run.results if r.exempt is None for x, _ in found[id(r)]]
    errors = sum(1 for x in lines if x.severity == "error")
    out.append(
        f"\n{s.workloads} workloads: {s.compliant} compliant, {s.noncompliant} noncompliant, "
        f"{s.unverified} unverified, {s.exempt} exempt (failing at {run.fail_on}); "
        f"findings: {errors} errors, {len(lines) - errors} warnings; "
        f"{s.skipped_containers} containers skipped ({s.not_python} not Python), "
        f"{s.ignored_files} files ignored, {s.warnings} input warnings, "
        f"{s.errors} input errors (matrix {run.matrix.name} {run.matrix.version}"
        f"{facts_words(run.matrix)})"
    )
    by_verdict = sorted(run.results, key=lambda r: (VERDICT_ORDER[run.verdict(r)], ids[id(r)]))
    fixed = Fixes(run)
    to_fix = [(ids[id(r)], f) for r in by_verdict for f in fixed.of(r)]
    if to_fix:
        out.append("\nTo fix: the smallest change that closes each noncompliant workload's gaps")
        out.extend(printable(f"  {wid}: {fix_words(f)}") for wid, f in to_fix)
    unverified = [
        (ids[id(r)], v) for r in by_verdict if run.verdict(r) == "unverified" for v in to_verify(r)
    ]
    if unverified:
        out.append("\nUnverified: to decide them, supply")
        out.extend(printable(f"  {wid}: {v.fact}: {v.how}") for wid, v in unverified)
    if run.warnings:
        out.append("\nInput warnings (facts left unknown):")
        out.extend(f"  {printable(str(w))}" for w in run.warnings)
    if run.kinds_not_understood:
        out.append("\nKinds not understood (their containers are not judged):")
        out.extend(
            printable(f"  {k.source}: {k.field or '-'}: {k.kind} {k.name or ''}: {k.reason}")
            for k in run.kinds_not_understood
        )
    if verbose and run.not_python:
        out.append("\nNot Python (skipped):")
        out.extend(
            printable(
                f"  {n.source}: {n.kind}/{n.namespace or '-'}/{n.name}/{n.container}: {n.reason}"
            )
            for n in run.not_python
        )
    if verbose and run.ignored_files:
        out.append("\nIgnored files:")
        out.extend(printable(f"  {f.path}: {f.reason}") for f in run.ignored_files)
    details = _findings_text(run, by_verdict, ids, found)
    if details:
        out.append("\nFindings, errors first:\n" + "\n".join(details))
    return "\n".join(out) + "\n"


def _findings_text(
    run: Run,
    ordered: list[model.WorkloadResult],
    ids: dict[int, str],
    grouped: dict[int, list[tuple[model.Reason, tuple[str, ...]]]],
) -> list[str]:
    """Per workload: where it and its facts come from (once), then each finding once with
    the features it concerns."""
    out: list[str] = []
    for r in ordered:
        found = grouped[id(r)]
        if not found:
            continue
        where = facts_in_words(r.workload.facts.sources)
        out.append(
            printable(
                f"  {ids[id(r)]} ({run.verdict(r)}; {r.workload.source}"
                + (f"; {where}" if where else "")
                + ")"
            )
        )
        for x, features in found:
            extra = ""
            if x.required or x.observed:
                extra = f" [required {x.required or '-'}, observed {x.observed or '-'}]"
            scope = scope_words(features, r)
            out.append(printable(f"    {x.severity}: {scope}: {x.code}: {x.message}{extra}"))
    return out


_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def to_sarif(run: Run, tool_version: str) -> dict[str, object]:
    results: list[dict[str, object]] = []
    fixed = Fixes(run)
    ids = unique_ids(run.results)
    used: list[str] = []
    for r in run.results:
        wid = ids[id(r)]
        for name, fr in r.features.items():
            for x in fr.reasons:
                if x.code not in used:
                    used.append(x.code)
                text = f"{wid}: {name}: {x.message}"
                if x.required or x.observed:
                    text += f" (required {x.required or '-'}, observed {x.observed or '-'})"
                where = facts_in_words(r.workload.facts.sources)
                if where:
                    text += f". Facts: {where}."
                fix = [f for f in fixed.of(r) if name in f.features]
                if fix:
                    text += " Fix: " + "; ".join(fix_words(f) for f in fix) + "."
                res: dict[str, object] = {
                    "ruleId": x.code,
                    "ruleIndex": used.index(x.code),
                    "level": "note" if r.exempt else _SARIF_LEVEL[x.severity],
                    "message": {"text": text},
                    "locations": [
                        {
                            "physicalLocation": {"artifactLocation": {"uri": r.workload.source}},
                            "logicalLocations": [{"fullyQualifiedName": wid, "kind": "resource"}],
                        }
                    ],
                    "partialFingerprints": {"ddcompatWorkloadFeature/v1": f"{wid}#{name}#{x.code}"},
                    "properties": {
                        "feature": name,
                        "status": fr.status,
                        "verdict": r.verdict(run.fail_on),
                    },
                }
                if r.exempt:
                    res["suppressions"] = [{"kind": "inSource", "justification": r.exempt}]
                results.append(res)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "ddcompat",
                        "version": tool_version,
                        "informationUri": TOOL_URI,
                        "rules": [
                            {"id": c, "shortDescription": {"text": codes.HELP[c]}} for c in used
                        ],
                    }
                },
                "properties": {
                    "matrix": f"{run.matrix.name} {run.matrix.version}",
                    "asOf": run.as_of,
                    "factsRead": facts_read(run.matrix),
                    "failOn": run.fail_on,
                    "verdicts": run.verdicts(),
                },
                "invocations": [
                    {
                        "executionSuccessful": not run.errors,
                        "toolExecutionNotifications": [
                            {
                                "level": "error",
                                "message": {"text": str(e)},
                                "locations": [
                                    {"physicalLocation": {"artifactLocation": {"uri": e.source}}}
                                ],
                            }
                            for e in run.errors
                        ],
                    }
                ],
                "results": results,
            }
        ],
    }


def render_sarif(run: Run, tool_version: str) -> str:
    return json.dumps(to_sarif(run, tool_version), indent=2) + "\n"


def render_junit(run: Run) -> str:
    fail_on = run.fail_on
    ids = unique_ids(run.results)
    import xml.etree.ElementTree as ET

    suites = ET.Element("testsuites", name="ddcompat")
    # the facts judged by, as each suite's JUnit properties (CI report viewers show them)
    properties = (
        ("matrix", f"{run.matrix.name} {run.matrix.version}"),
        ("as_of", run.as_of),
        ("facts_read", facts_read(run.matrix) or "unknown"),
    )
    by_source: dict[str, ET.Element] = {}
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def suite(source: str) -> ET.Element:
        if source not in by_source:
            by_source[source] = ET.SubElement(suites, "testsuite", name=source)
            props = ET.SubElement(by_source[source], "properties")
            for key, value in properties:
                ET.SubElement(props, "property", name=key, value=value)
        return by_source[source]

    counts: dict[str, dict[str, int]] = {}
    for r in run.results:
        s = suite(r.workload.source)
        c = counts.setdefault(
            r.workload.source, {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        )
        for name, fr in r.features.items():
            case = ET.SubElement(s, "testcase", classname=ids[id(r)], name=name)
            c["tests"] += 1
            bad = [
                x
                for x in fr.reasons
                if model.SEVERITY_RANK[x.severity] >= model.SEVERITY_RANK[fail_on]
            ]
            if r.exempt is not None:
                ET.SubElement(case, "skipped", message=f"exempt: {r.exempt}")
                c["skipped"] += 1
            elif not bad and fr.status == "unknown":
                # unverified: a failure only where the run fails on it
                text = "unverified: " + "; ".join(f"{x.code}: {x.message}" for x in fr.reasons)
                if run.fail_on_unverified:
                    ET.SubElement(case, "failure", message=text, type="UNVERIFIED")
                    c["failures"] += 1
                else:
                    ET.SubElement(case, "skipped", message=text)
                    c["skipped"] += 1
            elif bad:
                fail = ET.SubElement(
                    case,
                    "failure",
                    message="; ".join(f"{x.code}: {x.message}" for x in bad),
                    type=bad[0].code,
                )
                fail.text = "\n".join(
                    f"{x.severity} {x.code}: {x.message} "
                    f"(required {x.required or '-'}, observed {x.observed or '-'})"
                    for x in fr.reasons
                )
                c["failures"] += 1
    for e in run.errors:
        s = suite(e.source)
        c = counts.setdefault(e.source, {"tests": 0, "failures": 0, "errors": 0, "skipped": 0})
        case = ET.SubElement(s, "testcase", classname=e.source, name=e.field or "read")
        err = ET.SubElement(case, "error", message=e.message, type="INPUT_ERROR")
        err.text = str(e)
        c["tests"] += 1
        c["errors"] += 1
    for source, el in by_source.items():
        for k, v in counts[source].items():
            el.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        suites.set(k, str(v))
    ET.indent(suites)
    # (ElementTree escapes markup but writes control characters as they are, which no
    # XML reader accepts: they are escaped as text)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + xml_safe(ET.tostring(suites, encoding="unicode"))
        + "\n"
    )


def facts_read(m: matrix_mod.Matrix) -> str | None:
    """The day the matrix's release facts were read from the vendor's index, if known."""
    return m.known.read if m.known is not None else None


def facts_words(m: matrix_mod.Matrix) -> str:
    """``, facts read 2026-12-08`` (or nothing when the matrix does not say)."""
    day = facts_read(m)
    return f", facts read {day}" if day else ""


def matrix_for_feature(m: matrix_mod.Matrix, feature: str) -> matrix_mod.Matrix:
    """The rows about one feature (runtime rows, which hold for every feature, left out)."""
    switches = {s.variable for s in signals.ENV_SWITCHES if s.feature == feature}
    return msgspec.structs.replace(
        m,
        features=tuple(r for r in m.features if r.id == feature),
        deployments=tuple(r for r in m.deployments if r.feature == feature),
        runtimes=(),
        frameworks=tuple(r for r in m.frameworks if r.features.get(feature)),  # type: ignore[call-overload]
        auth_frameworks=tuple(r for r in m.auth_frameworks if feature in r.features),
        caveats=tuple(r for r in m.caveats if feature in r.features),
        settings=tuple(r for r in m.settings if r.variable in switches),
        defaults=tuple(r for r in m.defaults if feature in (r.feature, r.when)),
        restrictions=tuple(r for r in m.restrictions if r.feature == feature),
        lambda_layers=tuple(r for r in m.lambda_layers if r.feature == feature),
        injection=(),
        lambda_runtimes=(),
        notes=(),
    )


def render_matrix(m: matrix_mod.Matrix) -> str:
    parts = [
        f"Matrix {m.name} {m.version}, edition {m.edition or '-'} ({len(m.files)} files)"
        f"{facts_words(m)}"
    ]
    for title, header, rows in (*_core_sections(m), *_extra_sections(m)):
        if rows:  # (a section with no row, as in one feature's view, is left out)
            parts.append(f"\n{title}\n" + _table(rows, header))
    if m.known is not None:
        k = m.known
        lines = ", ".join(f"{line}.x {v}" for line, v in k.ddtrace_lines.items())
        parts.append(
            f"\nReleases known (read {k.read}): newest ddtrace {k.ddtrace_latest} ({lines}); "
            f"newest Lambda layer {k.lambda_layer_latest or '-'} ({k.source})"
        )
    if m.notes:
        parts.append("\nNotes\n" + "\n".join(f"- {n.text} ({n.source})" for n in m.notes))
    return "\n".join(parts) + "\n"


def _core_sections(m: matrix_mod.Matrix) -> list[tuple[str, list[str], list[list[str]]]]:
    return [
        (
            "Features",
            ["FEATURE", "TITLE", "DDTRACE", "REMOTE CONFIG", "SOURCE"],
            [
                [
                    f.id,
                    f.title,
                    "preview" if f.preview else f">={f.min_ddtrace}",
                    "yes" if f.requires_remote_config else "",
                    f.source,
                ]
                for f in m.features
            ],
        ),
        (
            "Deployment types",
            ["DEPLOYMENT", "FEATURE", "SUPPORTED", "SOURCE"],
            [
                [d.deployment_type, d.feature, "yes" if d.supported else "no", d.source]
                for d in m.deployments
            ],
        ),
        (
            "Release branches",
            ["DDTRACE", "LEVEL", "SINCE", "UNTIL", "FORECAST", "SOURCE"],
            [
                [
                    b.ddtrace,
                    b.level,
                    b.since or "",
                    b.until or "",
                    f"forecast: {b.estimate or 'yes'}" if b.forecast else "",
                    b.source,
                ]
                for b in m.release_branches
            ],
        ),
        (
            "Runtimes",
            ["OS", "ARCH", "RUNTIME", "PYTHON", "DDTRACE", "SOURCE"],
            [
                [r.os, ",".join(r.arch), r.runtime, ", ".join(r.python), r.ddtrace, r.source]
                for r in m.runtimes
            ],
        ),
        (
            "Web frameworks",
            ["FRAMEWORK", "VERSION", "FEATURES", "CAVEATS", "SOURCE"],
            [
                [
                    f.framework,
                    f">={f.min_version}",
                    ",".join(k for k, v in f.features.items() if v),
                    ",".join(f.caveats),
                    f.source,
                ]
                for f in m.frameworks
            ],
        ),
        (
            "Authentication frameworks",
            ["FRAMEWORK", "VERSIONS", "FEATURES", "SOURCE"],
            [
                [a.framework, ", ".join(a.versions), ",".join(a.features), a.source]
                for a in m.auth_frameworks
            ],
        ),
        (
            "Caveats",
            ["CODE", "FRAMEWORK", "FEATURES", "MESSAGE", "SOURCE"],
            [
                [c.code, c.framework or "", ",".join(c.features), c.message, c.source]
                for c in m.caveats
            ],
        ),
    ]


def _extra_sections(m: matrix_mod.Matrix) -> list[tuple[str, list[str], list[list[str]]]]:
    """The sections an edition may leave empty: (title, header, rows)."""
    return [
        (
            "Settings: the ddtrace versions (or Lambda layers) that read a variable",
            ["VARIABLE", "DDTRACE", "LAMBDA LAYER", "INSTEAD", "SOURCE"],
            [
                [r.variable, r.ddtrace or "", r.lambda_layer or "", r.instead or "", r.source]
                for r in m.settings
            ],
        ),
        (
            "Capabilities on by default (while another feature is on)",
            ["FEATURE", "DDTRACE", "WHEN", "OFF BY", "SOURCE"],
            [[r.feature, r.ddtrace, r.when, ", ".join(r.off_by), r.source] for r in m.defaults],
        ),
        (
            "Restrictions: where a feature does not run although the tracer does",
            ["FEATURE", "DDTRACE", "NOT ON", "SOURCE"],
            [
                [r.feature, r.ddtrace, ", ".join((*r.python, *r.os)), r.source]
                for r in m.restrictions
            ],
        ),
        (
            "Library injection: Pythons injected into",
            ["DDTRACE", "PYTHON", "SOURCE"],
            [[r.ddtrace, ", ".join(r.python), r.source] for r in m.injection],
        ),
        (
            "Datadog Lambda layers",
            ["LAYERS", "FEATURE", "EFFECT", "SUPPORTED FROM", "SOURCE"],
            [
                [r.layers, r.feature, r.effect, str(r.supported_from or ""), r.source]
                for r in m.lambda_layers
            ],
        ),
        (
            "AWS Lambda runtimes",
            ["RUNTIME", "DEPRECATED", "CREATE BLOCKED", "UPDATE BLOCKED", "SOURCE"],
            [
                [r.runtime, r.deprecated, r.create_blocked or "", r.update_blocked or "", r.source]
                for r in m.lambda_runtimes
            ],
        ),
    ]


def query_json(q: fixes.Query) -> dict[str, object]:
    """One ``matrix query`` answer as JSON."""
    out: dict[str, object] = {
        "feature": q.feature,
        "python": q.python,
        "os": q.os,
        "arch": q.arch,
        "deployment": q.deployment,
        "as_of": q.as_of,
        "ddtrace_minimum": q.ddtrace.minimum,
        "ddtrace_minimum_maintained": q.ddtrace.maintained,
        "ddtrace_supported": list(q.ddtrace.supported),
    }
    if q.layer is not None:
        out["lambda_layer_minimum"] = q.layer.minimum
        out["lambda_layer_minimum_maintained"] = q.layer.maintained
        out["lambda_layers_supported"] = list(q.layer.supported)
    out["rows"] = [{"section": s, "row": what, "source": src} for s, what, src in q.rows]
    return out


def render_query(answers: list[fixes.Query]) -> str:
    """``matrix query`` as a table: one line per Python, then the rows the answers used."""
    if not answers:
        return "no Python to ask about\n"
    first = answers[0]
    lam = first.layer is not None
    head = ["PYTHON", "DDTRACE MINIMUM", "MAINTAINED", "SUPPORTED"]
    rows = []
    for q in answers:
        row = [
            q.python,
            q.ddtrace.minimum or "none",
            q.ddtrace.maintained or "none",
            "; ".join(q.ddtrace.supported) or "-",
        ]
        if q.layer is not None:
            row += [q.layer.minimum or "none", q.layer.maintained or "none"]
        rows.append(row)
    if lam:
        head += ["LAYER MINIMUM", "LAYER MAINTAINED"]
    out = [
        f"{first.feature} on {first.os}/{first.arch}, {first.deployment}, as of {first.as_of}",
        _table(rows, head),
    ]
    used: dict[tuple[str, str, str], None] = {}
    for q in answers:
        used.update(dict.fromkeys(q.rows))
    out.append("\nRows used\n" + _table([list(r) for r in used], ["SECTION", "ROW", "SOURCE"]))
    return "\n".join(out) + "\n"
