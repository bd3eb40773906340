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

from ddcompat.shared import fixes, model, report

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


_CARD_CLASS: dict[str, str] = {str(k): v for k, v in _VERDICT_CLASS.items()}


def _fix_rows(run: report.Run, fixed: report.Fixes) -> str:
    """One row per fix of a noncompliant workload (in the page's order)."""
    return "".join(
        f'<tr data-fix="{_e(r.workload.id)}"><td><code>{_e(r.workload.id)}</code></td>'
        f"<td>{_e(f.facet)}</td><td>{_e(f.observed or '?')}</td>"
        f"<td class='ok'>{_e(f.minimum)}</td><td>{_e(', '.join(f.features))}</td></tr>"
        for r in run.results
        for f in fixed.of(r)
    )


def _workload(
    r: model.WorkloadResult, fail_on: model.Severity = "error", fix: tuple[fixes.Fix, ...] = ()
) -> str:
    w = r.workload
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
    rows = []
    for feature, fr in sorted(r.features.items()):
        reasons = "".join(
            f"<li><code>{_e(x.code)}</code> <span class='{_e(x.severity)}'>{_e(x.severity)}</span>"
            f" {_e(x.message)}</li>"
            for x in fr.reasons
        )
        rows.append(
            f"<tr><td>{_e(feature)}</td><td class='{_e(fr.status)}'>{_e(fr.status)}</td>"
            f"<td>{'<ul>' + reasons + '</ul>' if reasons else ''}</td></tr>"
        )
    exempt = f"<p>Exempt: {_e(r.exempt)} ({_e(r.exempt_source)})</p>" if r.exempt else ""
    fixes_html = (
        "<p>To fix: " + "; ".join(_e(report.fix_words(f)) for f in fix) + "</p>" if fix else ""
    )
    return (
        f'<details data-workload="{_e(w.id)}" data-verdict="{verdict}"'
        f"{' open' if verdict in ('noncompliant', 'unverified') else ''}>"
        f"<summary>{state} <code>{_e(w.id)}</code></summary>"
        f"<p class='muted'>{_e(w.source)} · {_e(w.deployment_type)}</p>"
        f"{to_verify}{fixes_html}"
        "<ul>"
        f"<li>ddtrace: {_fact(ddtrace, src.ddtrace)}</li>"
        f"<li>Python: {_fact(python, src.python)}</li>"
        f"<li>platform: {_fact(platform, src.platform)}</li>"
        "</ul>"
        f"{exempt}"
        "<div class='scroll'><table><tr><th>feature</th><th>status</th><th>reasons</th></tr>"
        f"{''.join(rows)}</table></div></details>"
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
        f"{_e(k.replace('_', ' '))}</div>"
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
        for (f, c, sev), n in sorted(gaps.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    # failing first, then unverified, then the rest
    rank = {"noncompliant": 0, "unverified": 1, "compliant": 2, "exempt": 3}
    ordered = sorted(run.results, key=lambda r: (rank[r.verdict(run.fail_on)], r.workload.id))
    fixed = report.Fixes(run)
    details = "".join(_workload(r, run.fail_on, fixed.of(r)) for r in ordered[:max_details])
    fix_rows = _fix_rows(msgspec.structs.replace(run, results=ordered), fixed)
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
