"""One self-contained HTML page of a run (``check --format html``; the scanner serves the
same page at ``/`` from its last snapshot): the summary, workloads per namespace and
deployment type, gaps by feature and code, and each workload's facts with where they came
from. No external assets and no script (inline CSS only), every value escaped; the numbers
are the JSON report's (``report.summary``). Workload details are capped at ``max_details``
(the rest counted, and in the JSON report)."""

from __future__ import annotations

import collections
import html

import msgspec

from ddcompat.shared import fixes, model, report, versions

_CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--unverified:#8250df;--muted:#57606a;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328}
header,main{padding:16px 24px;max-width:1280px;margin:0 auto}
header{border-bottom:1px solid var(--line)}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.muted{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(130px,1fr));gap:8px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;background:var(--bg)}
.card b{display:block;font-size:22px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:16px;margin-top:16px}
.chart{margin:0}.chart svg{max-width:520px;display:block}
.chart figcaption{font-weight:600;margin-bottom:4px}.legend span{margin-right:8px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;min-width:480px}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--bg)}td.n{text-align:right;font-variant-numeric:tabular-nums}
.supported,.ok{color:var(--ok)}.unsupported,.bad{color:var(--bad)}
.unknown,.preview,.warn{color:var(--warn)}.unverified{color:var(--unverified)}
details{border:1px solid var(--line);border-radius:6px;margin:6px 0;padding:4px 10px}
summary{cursor:pointer;overflow-wrap:anywhere}
code{font-size:12px;overflow-wrap:anywhere}
ul{margin:4px 0;padding-left:20px}
@media (max-width:600px){header,main{padding:12px}table{min-width:0}.wide{display:none}
td{padding:4px;overflow-wrap:anywhere}td code{word-break:break-all}ul{padding-left:14px}
details table{table-layout:fixed}details td:first-child,details th:first-child{width:28%}
details td:nth-child(2),details th:nth-child(2){width:24%}}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _gaps(results: list[model.WorkloadResult]) -> collections.Counter[tuple[str, str, str]]:
    """Workload-containers by (feature, code, severity) of warning/error findings."""
    out: collections.Counter[tuple[str, str, str]] = collections.Counter()
    for r in results:
        if r.exempt is not None:
            continue
        for feature, fr in r.features.items():
            for code, severity in {(x.code, x.severity) for x in fr.reasons}:
                if severity != "info":
                    out[(feature, code, severity)] += 1
    return out


def _fact(value: str | None, source: str | None) -> str:
    if value is None:
        return '<span class="warn">not known</span>'
    where = report.SOURCE_WORDS.get(source or "", source or "")
    return f"{_e(value)} <span class='muted'>({_e(where) or 'source not recorded'})</span>"


# each verdict's colour class (unverified has its own: it is neither a pass nor a gap)
_VERDICT_CLASS: dict[model.Verdict, str] = {
    "compliant": "ok",
    "noncompliant": "bad",
    "unverified": "unverified",
    "exempt": "muted",
}


# the cards' words where the summary's key would mislead (input problems, not findings)
_CARD_WORDS = {"errors": "input errors", "warnings": "input warnings"}
_CARD_CLASS: dict[str, str] = {str(k): v for k, v in _VERDICT_CLASS.items()}


def _fix_rows(run: report.Run, fixed: report.Fixes, ids: dict[int, str]) -> str:
    """One row per fix of a noncompliant workload (in the page's order)."""
    return "".join(
        f'<tr data-fix="{_e(ids[id(r)])}"><td><code>{_e(ids[id(r)])}</code></td>'
        f"<td>{_e(f.facet)}</td><td>{_e(f.observed or '?')}</td>"
        f"<td class='ok'>{_e(f.minimum)}</td><td>{_e(', '.join(f.features))}</td></tr>"
        for r in run.results
        for f in fixed.of(r)
    )


def _workload(
    r: model.WorkloadResult,
    fail_on: model.Severity = "error",
    fix: tuple[fixes.Fix, ...] = (),
    wid: str | None = None,
) -> str:
    w = r.workload
    wid = wid or w.id
    ddtrace, python, platform = report.facts_text(w.facts)
    src = w.facts.sources
    verdict = r.verdict(fail_on)
    state = f'<span class="{_VERDICT_CLASS[verdict]}">{verdict}</span>'
    verify = report.to_verify(r)
    to_verify = (
        "<p>To verify it, supply: "
        + "; ".join(f"<b>{_e(v.fact)}</b>: {_e(v.how)}" for v in verify)
        + "</p>"
        if verify
        else ""
    )
    rows = [
        f"<tr><td>{_e(feature)}</td><td class='{_e(fr.status)}'>{_e(fr.status)}</td>"
        f"<td>{_e(', '.join(dict.fromkeys(x.code for x in fr.reasons)))}</td></tr>"
        for feature, fr in sorted(r.features.items())
    ]
    # each finding once, with the features it concerns (a lifecycle finding is said once)
    levels = frozenset({"error", "warning", "info"})
    findings = "".join(
        f"<li><span class='{_e(x.severity)}'>{_e(x.severity)}</span> <code>{_e(x.code)}</code>"
        f" <span class='muted'>({_e(report.scope_words(features, r))})</span> {_e(x.message)}</li>"
        for x, features in report.grouped_findings(r, levels)
    )
    exempt = f"<p>Exempt: {_e(r.exempt)} ({_e(r.exempt_source)})</p>" if r.exempt else ""
    fixes_html = (
        "<p>To fix: " + "; ".join(_e(report.fix_words(f)) for f in fix) + "</p>" if fix else ""
    )
    return (
        f'<details data-workload="{_e(wid)}" data-verdict="{verdict}"'
        f"{' open' if verdict in ('noncompliant', 'unverified') else ''}>"
        f"<summary>{state} <code>{_e(wid)}</code></summary>"
        f"<p class='muted'>{_e(w.source)} · {_e(w.deployment_type)}</p>"
        f"{to_verify}{fixes_html}"
        "<ul>"
        f"<li>ddtrace: {_fact(ddtrace, src.ddtrace)}</li>"
        f"<li>Python: {_fact(python, src.python)}</li>"
        f"<li>platform: {_fact(platform, src.platform)}</li>"
        "</ul>"
        f"{exempt}"
        "<div class='scroll'><table><tr><th>feature</th><th>status</th><th>codes</th></tr>"
        f"{''.join(rows)}</table></div>"
        f"{'<ul class=findings>' + findings + '</ul>' if findings else ''}</details>"
    )


# colours of the charts' segments (the page's own palette)
_FILL = {
    "compliant": "#1a7f37",
    "noncompliant": "#cf222e",
    "unverified": "#8250df",
    "exempt": "#57606a",
    "general_availability": "#1a7f37",
    "maintenance": "#9a6700",
    "end_of_life": "#cf222e",
    "not known": "#8c959f",
}
_LIFECYCLE_WORDS = {
    "general_availability": "general availability",
    "maintenance": "maintenance",
    "end_of_life": "end of life",
    "not known": "not known",
}


def _lifecycle(r: model.WorkloadResult) -> str:
    """The support level of the workload's ddtrace line on the day judged (its findings)."""
    if r.workload.facts.ddtrace is None:
        return "not known"
    found = {x.code for fr in r.features.values() for x in fr.reasons}
    if "DDTRACE_END_OF_LIFE" in found:
        return "end_of_life"
    if "MAINTENANCE_BRANCH" in found:
        return "maintenance"
    if "MATRIX_NOT_COVERED" in found or "DDTRACE_UNKNOWN" in found:
        return "not known"
    return "general_availability"


def _line(ddtrace: str | None) -> str:
    """``4.16.0`` or ``>=4.1,<5`` -> ``4.x``; a range across lines or none -> ``not known``."""
    if ddtrace is None:
        return "not known"
    try:
        iv = versions.parse_range(ddtrace)
    except versions.VersionSyntaxError:
        return "not known"
    lo, hi = iv.lo, iv.hi
    if lo is None:
        return "not known"
    within = hi is None or hi.major == lo.major
    # <5 (or <5.0.0) ends the 4.x line
    ends_line = hi is not None and hi.major == lo.major + 1 and not any(hi.release[1:])
    return f"{lo.major}.x" if within or (ends_line and not iv.hi_closed) else "not known"


def _bars(
    title: str, chart: str, counts: dict[str, dict[str, int]], legend: tuple[str, ...]
) -> str:
    """A horizontal stacked bar chart as inline SVG (scales to the screen's width)."""
    if not counts:
        return ""
    width, left, row = 320, 64, 22
    biggest = max(sum(c.values()) for c in counts.values()) or 1
    height = row * len(counts) + 8
    parts = []
    for i, (label, segs) in enumerate(counts.items()):
        y = 4 + i * row
        x = float(left)
        total = sum(segs.values())
        bar = [
            f'<text x="0" y="{y + 14}" font-size="12">{_e(label)}</text>',
        ]
        for key in legend:
            n = segs.get(key, 0)
            if not n:
                continue
            w = (width - left - 40) * n / biggest
            bar.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="16" fill="{_FILL[key]}">'
                f"<title>{_e(label)}: {n} {_e(_LIFECYCLE_WORDS.get(key, key))}</title></rect>"
            )
            x += w
        bar.append(f'<text x="{x + 4:.1f}" y="{y + 14}" font-size="12">{total}</text>')
        parts.append(f'<g data-bar="{_e(label)}" data-count="{total}">' + "".join(bar) + "</g>")
    key_html = " ".join(
        f"<span><svg width='10' height='10' aria-hidden='true'><rect width='10' height='10' "
        f"fill='{_FILL[k]}'/></svg> {_e(_LIFECYCLE_WORDS.get(k, k))}</span>"
        for k in legend
    )
    return (
        f"<figure class='chart' data-chart='{chart}'><figcaption>{_e(title)}</figcaption>"
        f"<svg viewBox='0 0 {width} {height}' width='100%' role='img' "
        f"aria-label='{_e(title)}'>{''.join(parts)}</svg>"
        f"<div class='muted legend'>{key_html}</div></figure>"
    )


def _charts(run: report.Run) -> str:
    """The fleet's ddtrace release lines coloured by lifecycle, its Pythons by verdict."""
    lines: dict[str, dict[str, int]] = {}
    pythons: dict[str, dict[str, int]] = {}
    for r in run.results:
        facts = r.workload.facts
        seg = lines.setdefault(_line(facts.ddtrace), {})
        life = _lifecycle(r)
        seg[life] = seg.get(life, 0) + 1
        pm = versions.python_minor(facts.python) if facts.python else None
        key = f"{pm[0]}.{pm[1]}" if pm else "not known"
        pseg = pythons.setdefault(key, {})
        verdict = r.verdict(run.fail_on)
        pseg[verdict] = pseg.get(verdict, 0) + 1

    def order(k: str) -> tuple[int, ...]:
        return (1 << 30,) if k == "not known" else tuple(int(p) for p in k.rstrip(".x").split("."))

    return _bars(
        "ddtrace by release line (lifecycle on the day judged)",
        "ddtrace",
        {k: lines[k] for k in sorted(lines, key=order)},
        ("general_availability", "maintenance", "end_of_life", "not known"),
    ) + _bars(
        "Python versions (verdict)",
        "python",
        {k: pythons[k] for k in sorted(pythons, key=order)},
        model.VERDICTS,
    )


def render(run: report.Run, *, title: str = "ddcompat report", max_details: int = 2000) -> str:
    s = report.summary(run)
    cards = [
        ("workloads", s.workloads),
        ("compliant", s.compliant),
        ("noncompliant", s.noncompliant),
        ("unverified", s.unverified),
        ("exempt", s.exempt),
        ("errors", s.errors),
        ("warnings", s.warnings),
        ("not_python", s.not_python),
        ("ignored_files", s.ignored_files),
    ]
    card_html = "".join(
        f'<div class="card {_CARD_CLASS.get(k, "")}"><b data-summary="{k}">{v}</b>'
        f"{_e(_CARD_WORDS.get(k, k.replace('_', ' ')))}</div>"
        for k, v in cards
    )
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for r in run.results:
        w = r.workload
        g = groups.setdefault(
            (w.namespace or "(none)", w.deployment_type), dict.fromkeys(model.VERDICTS, 0)
        )
        g[r.verdict(run.fail_on)] += 1
    ns_rows = "".join(
        f'<tr data-group="{_e(ns)}/{_e(dt)}"><td>{_e(ns)}</td><td>{_e(dt)}</td>'
        f'<td class="n">{sum(g.values())}</td>'
        + "".join(
            f'<td class="n {_VERDICT_CLASS[v]}{" wide" if v == "exempt" else ""}">{g[v]}</td>'
            for v in model.VERDICTS
        )
        + "</tr>"
        for (ns, dt), g in sorted(groups.items())
    )
    gaps = _gaps(run.results)
    gap_rows = "".join(
        f'<tr data-gap="{_e(f)}/{_e(c)}"><td>{_e(f)}</td><td><code>{_e(c)}</code></td>'
        f'<td class="{_e(sev)}">{_e(sev)}</td><td class="n">{n}</td></tr>'
        # errors first, then the most common
        for (f, c, sev), n in sorted(
            gaps.items(), key=lambda kv: (report.severity_first(kv[0][2]), -kv[1], kv[0])
        )
    )
    # failing first, then unverified, then the rest
    ids = report.unique_ids(run.results)
    order = report.VERDICT_ORDER
    ordered = sorted(run.results, key=lambda r: (order[r.verdict(run.fail_on)], ids[id(r)]))
    fixed = report.Fixes(run)
    details = "".join(
        _workload(r, run.fail_on, fixed.of(r), ids[id(r)]) for r in ordered[:max_details]
    )
    fix_rows = _fix_rows(msgspec.structs.replace(run, results=ordered), fixed, ids)
    more = len(ordered) - max_details
    if more > 0:
        details += f"<p class='muted'>{more} more workload-containers: see the JSON report.</p>"
    problems = "".join(
        f"<li class='{cls}'>{_e(e)}</li>"
        for cls, items in (("bad", run.errors), ("warn", run.warnings))
        for e in items
    )
    m = run.matrix
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><div class='muted'>matrix {_e(m.name)} {_e(m.version)}"
        f"{' (' + _e(m.edition) + ')' if m.edition else ''}{_e(report.facts_words(m))}, "
        f"judged as of {_e(run.as_of)}</div>"
        "</header><main>"
        f"<section class='cards'>{card_html}</section>"
        f"<section class='charts'>{_charts(run)}</section>"
        "<h2>Per namespace and deployment type</h2><div class='scroll'><table id='groups'>"
        "<tr><th>namespace</th><th>type</th><th>workloads</th><th>compliant</th>"
        "<th>noncompliant</th><th>unverified</th>"
        f"<th class='wide'>exempt</th></tr>{ns_rows}</table></div>"
        "<h2>Gaps by feature and code</h2><div class='scroll'><table id='gaps'>"
        "<tr><th>feature</th><th>code</th><th>severity</th><th>workloads</th></tr>"
        f"{gap_rows or '<tr><td colspan=4>none</td></tr>'}</table></div>"
        + (
            "<h2>To fix</h2><div class='scroll'><table id='fixes'><tr><th>workload</th>"
            "<th>change</th><th>from</th><th>to at least</th><th>closes</th></tr>"
            f"{fix_rows}</table></div>"
            if fix_rows
            else ""
        )
        + (f"<h2>Input problems</h2><ul id='problems'>{problems}</ul>" if problems else "")
        + f"<h2>Workloads</h2><section id='workloads'>{details}</section>"
        "</main></body></html>\n"
    )
