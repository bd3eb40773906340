"""Alert rules (promtool check/test rules, one unit test firing each alert) and the
Grafana dashboard: every metric their PromQL names is one the exporters really export."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path

import prometheus_client
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ddcompat.scanner import collector
from ddcompat.scanner import scan as scan_mod
from ddcompat.shared import judge as judge_mod
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod
from ddcompat.webhook import metrics as webhook_metrics
from tests.helm.conftest import CHART
from tests.tools import ROOT

ALERTS = CHART / "files" / "alerts.yaml"
DASHBOARD = CHART / "files" / "dashboard.json"
HERE = Path(__file__).parent


def promtool() -> str:
    exe = shutil.which("promtool")
    assert exe, "promtool not found: `make test` installs Debian's prometheus package"
    return exe


def test_promtool_check_rules() -> None:
    out = subprocess.run(
        [promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 4 rules found" in out.stdout


def test_promtool_unit_tests_fire_each_alert() -> None:
    tests = yaml.safe_load((HERE / "rules_test.yaml").read_text())
    fired = {
        t["alertname"]
        for case in tests["tests"]
        for t in case["alert_rule_test"]
        if t["exp_alerts"]
    }
    alerts = {r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]}
    assert fired == alerts
    out = subprocess.run(
        [promtool(), "test", "rules", "rules_test.yaml"], cwd=HERE, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def exported_metric_names() -> set[str]:
    """Names in the exposition of the real exporters: the webhook's registry, and the
    scanner's after a scan of the example fleet."""
    names: set[str] = set()
    wm = webhook_metrics.Metrics.create()
    wm.requests.labels("CREATE", "denied", "enforce", "Deployment").inc()
    wm.findings.labels("sca", "DEPLOYMENT_UNSUPPORTED", "Pod").inc()
    wm.duration.observe(0.001)
    wm.event("written").inc()
    published = collector.Published()
    sm = collector.SelfMetrics.create(published)
    opts = scan_mod.Options(paths=(ROOT / "examples",))
    judging = judge_mod.Judge(matrix_mod.load(edition="seed"), policy_mod.DEFAULT)
    published.snapshot = asyncio.run(scan_mod.scan(None, opts, judging))
    sm.duration.observe(1.0)
    sm.errors.labels("files", "bad_input").inc()
    sm.dropped.inc(0)
    sm.inspections.labels("ok").inc()
    for text in map(prometheus_client.generate_latest, (wm.registry, sm.registry)):
        for fam in text_string_to_metric_families(text.decode()):
            names.update(s.name for s in fam.samples)
    return names


PROMQL_WORDS = {
    "sum",
    "count",
    "max",
    "min",
    "avg",
    "by",
    "without",
    "rate",
    "increase",
    "topk",
    "time",
    "histogram_quantile",
    "offset",
    "or",
    "and",
    "unless",
    "le",
    "d",
    "h",
    "m",
    "s",
}


def metric_names_in(expr: str) -> set[str]:
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without)\s*\([^)]*\)", "", expr)  # grouping labels
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
    return {w for w in words if w not in PROMQL_WORDS and not w.startswith("__")}


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets") or ()]


def alert_exprs() -> list[str]:
    return [r["expr"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]


@pytest.fixture(scope="module")
def exported() -> set[str]:
    return exported_metric_names()


def test_dashboard_names_only_exported_metrics(exported: set[str]) -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 12
    used: set[str] = set()
    for expr in exprs:
        names = {n for n in metric_names_in(expr) if n.startswith("ddcompat_")}
        assert names, expr
        assert names <= exported, (expr, names - exported)
        used |= names
    # the panels the issue asks for are there
    for needed in (
        "ddcompat_workload_feature_status",
        "ddcompat_namespace_gaps",
        "ddcompat_workload_info",
        "ddcompat_admission_requests_total",
        "ddcompat_admission_duration_seconds_bucket",
        "ddcompat_scan_last_success_timestamp_seconds",
        # issue 18.4: the new sources, and where the fleet's facts came from
        "ddcompat_namespace_fact_sources",
        "ddcompat_image_inspections_total",
        "ddcompat_scan_errors_total",
        "ddcompat_admission_events_total",
    ):
        assert needed in used


def test_alerts_name_only_exported_metrics(exported: set[str]) -> None:
    for expr in alert_exprs():
        names = {n for n in metric_names_in(expr) if n.startswith("ddcompat_")}
        assert names and names <= exported, (expr, names - exported)


def test_the_name_check_catches_a_typo(exported: set[str]) -> None:
    names = metric_names_in('sum by (namespace) (ddcompat_namespace_gap{namespace=~"$namespace"})')
    assert names == {"ddcompat_namespace_gap"} and not names <= exported


def test_dashboard_is_grafana_json() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 30
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    rows = [p["title"] for p in dash["panels"] if p["type"] == "row"]
    assert "Where the facts came from" in rows
    for p in dash["panels"]:
        assert {"x", "y", "w", "h"} <= p["gridPos"].keys()
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}" and p["targets"]
    variables = {v["name"] for v in dash["templating"]["list"]}
    assert variables == {"datasource", "namespace"}


def test_the_dashboard_is_generated_not_hand_edited() -> None:
    """helm/ddcompat/files/dashboard.json is what ddcompat.scanner.dashboard writes (run
    `make dashboard` after changing the module)."""
    from ddcompat.scanner import dashboard

    assert DASHBOARD.read_text() == dashboard.render(), "run `make dashboard`"
