"""The Grafana dashboard of the chart (``helm/ddcompat/files/dashboard.json``), as code:
built with the Grafana Foundation SDK and written by ``make dashboard`` (``python -m
ddcompat.scanner.dashboard > helm/ddcompat/files/dashboard.json``); a test regenerates it
and compares, so the JSON is never edited by hand. Needs the ``dashboard`` extra.

Rows: the fleet's compatibility (scanner snapshot), where its facts came from (annotations,
images, AWS, or not known), its deployment types and sources (Kubernetes, images, AWS),
the admission webhook, and the scanner itself."""

from __future__ import annotations

import json
import sys

from grafana_foundation_sdk.builders import bargauge, piechart, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import encoder
from grafana_foundation_sdk.models import dashboard as model

UID = "ddcompat-overview"
DS = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
NS = 'namespace=~"$namespace"'

Panel = bargauge.Panel | table.Panel | timeseries.Panel | piechart.Panel | stat.Panel


def q(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DS)


def panel(
    p: Panel, title: str, description: str, *queries: prometheus.Dataquery, w: int = 12
) -> Panel:
    for query in queries:
        p = p.with_target(query)
    return p.title(title).description(description).datasource(DS).span(w).height(8)


def build() -> model.Dashboard:
    d = (
        dash.Dashboard("ddcompat: Application Security compatibility")
        .uid(UID)
        .description(
            "ddtrace/Python compatibility gaps of the fleet, where its facts came from, "
            "and the admission webhook."
        )
        .tags(["ddcompat", "datadog", "appsec"])
        .timezone("browser")
        .refresh("1m")
        .time("now-24h", "now")
        .with_variable(
            dash.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
        .with_variable(
            dash.QueryVariable("namespace")
            .label("Namespace")
            .datasource(DS)
            .query("label_values(ddcompat_workload_info, namespace)")
            .multi(True)
            .include_all(True)
            .all_value(".*")
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        )
    )
    d = d.with_row(dash.Row("Fleet compatibility"))
    for p in (
        panel(
            piechart.Panel(),
            "Workloads by verdict",
            "Workload-containers by verdict: compliant (every feature it turns on is "
            "supported), noncompliant (an error finding), unverified (a feature could not be "
            "decided: supply the facts the report names), exempt.",
            q(f"sum by (verdict) (ddcompat_namespace_verdicts{{{NS}}})", "{{verdict}}"),
        ),
        panel(
            table.Panel(),
            "Unverified workloads per namespace",
            "Workload-containers whose facts left a feature undecided; never counted compliant.",
            q(
                f'sum by (namespace) (ddcompat_namespace_verdicts{{{NS}, verdict="unverified"}})',
                "{{namespace}}",
            ),
        ),
        panel(
            bargauge.Panel().unit("percentunit").min(0).max(1),
            "Compliance ratio per namespace",
            "Share of (workload-container, feature) pairs whose status is supported.",
            q(
                f'sum by (namespace) (ddcompat_workload_feature_status{{{NS}, status="supported"}})'
                f" / sum by (namespace) (ddcompat_workload_feature_status{{{NS}}})",
                "{{namespace}}",
            ),
        ),
        panel(
            table.Panel(),
            "Gaps by feature and reason",
            "Workload-containers with a warning or error finding, by feature and reason code.",
            q(f"sum by (feature, code) (ddcompat_namespace_gaps{{{NS}}})", "{{feature}} {{code}}"),
        ),
        panel(
            timeseries.Panel(),
            "Gaps per namespace over time",
            "",
            q(f"sum by (namespace) (ddcompat_namespace_gaps{{{NS}}})", "{{namespace}}"),
        ),
        panel(
            timeseries.Panel(),
            "Unsupported features",
            "Workload-containers whose feature is unsupported, by feature.",
            q(
                "count by (feature) "
                f'(ddcompat_workload_feature_status{{{NS}, status="unsupported"}})',
                "{{feature}}",
            ),
        ),
        panel(
            piechart.Panel(),
            "ddtrace versions",
            "",
            q(
                f"count by (ddtrace_version) (ddcompat_workload_info{{{NS}}})",
                "{{ddtrace_version}}",
            ),
            w=8,
        ),
        panel(
            piechart.Panel(),
            "Python versions",
            "",
            q(f"count by (python_version) (ddcompat_workload_info{{{NS}}})", "{{python_version}}"),
            w=8,
        ),
        panel(
            piechart.Panel(),
            "Deployment types",
            "Kubernetes, docker, and the AWS fleets read with --aws-region (ecs, fargate, lambda).",
            q(
                f"count by (deployment_type) (ddcompat_workload_info{{{NS}}})",
                "{{deployment_type}}",
            ),
            w=8,
        ),
    ):
        d = d.with_panel(p)
    d = d.with_row(dash.Row("Where the facts came from"))
    for p in (
        panel(
            piechart.Panel(),
            "ddtrace version: source",
            "Workload-containers by where their ddtrace version came from: annotation, env, "
            "the image (image_tag, image_config, image_layers), a Lambda layer, ...; unknown: "
            "judged without it (never harsher than a warning).",
            q(
                f'sum by (source) (ddcompat_namespace_fact_sources{{{NS}, fact="ddtrace"}})',
                "{{source}}",
            ),
            w=8,
        ),
        panel(
            piechart.Panel(),
            "Python version: source",
            "Workload-containers by where their Python version came from.",
            q(
                f'sum by (source) (ddcompat_namespace_fact_sources{{{NS}, fact="python"}})',
                "{{source}}",
            ),
            w=8,
        ),
        panel(
            bargauge.Panel().unit("percentunit").min(0).max(1),
            "Judged without a known ddtrace version",
            "Share of workload-containers per namespace whose ddtrace version is not known: "
            "annotate them, or turn on image inspection.",
            q(
                f'sum by (namespace) (ddcompat_namespace_fact_sources{{{NS}, fact="ddtrace", '
                f'source="unknown"}}) / sum by (namespace) '
                f'(ddcompat_namespace_fact_sources{{{NS}, fact="ddtrace"}})',
                "{{namespace}}",
            ),
            w=8,
        ),
        panel(
            timeseries.Panel(),
            "Image inspections",
            "Images read from their registry (--inspect-images) by result: ok, or why their "
            "facts stay unknown.",
            q(
                "sum by (result) (rate(ddcompat_image_inspections_total[$__rate_interval]))",
                "{{result}}",
            ),
        ),
        panel(
            timeseries.Panel(),
            "Source errors",
            "Scan problems by source (kubernetes resources, files, AWS regions and services, "
            "policy_reports, events) and reason.",
            q(
                "sum by (source, reason) (increase(ddcompat_scan_errors_total[1h]))",
                "{{source}} {{reason}}",
            ),
        ),
    ):
        d = d.with_panel(p)
    d = d.with_row(dash.Row("Admission webhook"))
    for p in (
        panel(
            timeseries.Panel(),
            "Webhook decisions",
            "",
            q(
                "sum by (decision, mode) "
                "(rate(ddcompat_admission_requests_total[$__rate_interval]))",
                "{{decision}} ({{mode}})",
            ),
        ),
        panel(
            timeseries.Panel().unit("s"),
            "Webhook latency",
            "",
            q(
                "histogram_quantile(0.5, sum by (le) "
                "(rate(ddcompat_admission_duration_seconds_bucket[$__rate_interval])))",
                "p50",
            ),
            q(
                "histogram_quantile(0.99, sum by (le) "
                "(rate(ddcompat_admission_duration_seconds_bucket[$__rate_interval])))",
                "p99",
                "B",
            ),
        ),
        panel(
            timeseries.Panel(),
            "Findings at admission",
            "",
            q(
                "topk(10, sum by (feature, code) "
                "(rate(ddcompat_admission_findings_total[$__rate_interval])))",
                "{{feature}} {{code}}",
            ),
        ),
        panel(
            timeseries.Panel(),
            "Events written",
            "Events on judged workloads (--events) by result.",
            q(
                "sum by (result) (rate(ddcompat_admission_events_total[$__rate_interval]))",
                "{{result}}",
            ),
        ),
    ):
        d = d.with_panel(p)
    d = d.with_row(dash.Row("Scanner"))
    for p in (
        panel(
            stat.Panel().unit("s"),
            "Scan freshness",
            "Age of the snapshot shown, and whether the last scan failed (stale).",
            q("time() - max(ddcompat_scan_last_success_timestamp_seconds)", "age of the snapshot"),
            q("max(ddcompat_snapshot_stale)", "stale", "B"),
        ),
        panel(
            timeseries.Panel(),
            "Scan duration and size",
            "",
            q(
                "histogram_quantile(0.9, sum by (le) "
                "(rate(ddcompat_scan_duration_seconds_bucket[1h])))",
                "p90 duration",
            ),
            q("sum(ddcompat_scanned_workloads)", "workload-containers", "B"),
            q("sum(increase(ddcompat_series_dropped_total[1h]))", "series dropped", "C"),
        ),
    ):
        d = d.with_panel(p)
    built = d.build()
    for i, made in enumerate(built.panels or (), 1):  # (rows too: ids unique on the page)
        made.id_val = i
    return built


def render() -> str:
    """The dashboard as the chart ships it (stable key order, a trailing newline)."""
    return json.dumps(build(), cls=encoder.JSONEncoder, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
