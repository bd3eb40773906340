"""PolicyReports in the real kube-apiserver (issue 18.1): with the wg-policy CRD applied,
the scanner writes one report per workload, owned by it, with the RBAC the chart grants;
`kubectl get policyreport -A` shows them; a second scan of the same fleet writes nothing;
a workload that leaves the fleet takes its report with it. No kube-controller-manager runs
here, so the garbage collector's part is asserted as the ownerReference (the report names
the Deployment's uid), and the workload's pods are deleted explicitly."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from ddcompat.scanner import reports
from ddcompat.scanner import scan as scan_mod
from ddcompat.shared import judge as judge_mod
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod
from tests.e2e.conftest import Cluster, make_fleet, scanner_token
from tests.tools import ROOT

CRD = ROOT / "tests" / "e2e" / "crds" / "wgpolicyk8s.io_policyreports.yaml"
NS = "reports-e2e"


@pytest.fixture(scope="module")
def fleet(cluster: Cluster) -> None:
    make_fleet(cluster, NS, "1.9.0")


@pytest.fixture(scope="module")
def reports_token(cluster: Cluster) -> str:
    """The scanner's service account as the chart makes it with policyReports enabled."""
    return scanner_token(cluster, "rep", "scanner.policyReports.enabled=true")


def test_reports_written_owned_and_removed(
    cluster: Cluster,
    reports_token: str,
    fleet: None,
) -> None:
    endpoint = cluster.endpoint(reports_token)
    opts = scan_mod.Options(kubernetes=True, endpoint=endpoint)
    judging = judge_mod.Judge(matrix_mod.load(edition="seed"), policy_mod.DEFAULT)
    writer = reports.Writer(endpoint)

    async def scan_and_write() -> tuple[int, int]:
        async with aiohttp.ClientSession() as s:
            snap = await scan_mod.scan(s, opts, judging)
            return await writer.sync(s, snap)

    # without the CRD: a clear error, nothing written
    with pytest.raises(reports.ReportsUnavailable, match=r"CRD .* is not installed"):
        asyncio.run(scan_and_write())
    cluster.kubectl("apply", "-f", str(CRD))
    cluster.kubectl(
        "wait", "--for=condition=established", "--timeout=30s", "crd/policyreports.wgpolicyk8s.io"
    )
    applied, deleted = asyncio.run(scan_and_write())
    assert applied >= 1 and deleted == 0  # (other tests' namespaces may hold workloads too)
    shown = cluster.kubectl("get", "policyreport", "-A").stdout
    assert "ddcompat-deployment-api" in shown
    report = json.loads(
        cluster.kubectl(
            "get", "policyreport", "ddcompat-deployment-api", "-n", NS, "-o", "json"
        ).stdout
    )
    uid = cluster.uid("deployment", "api", NS)
    [owner] = report["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Deployment", "api", uid)
    results = {(r["properties"]["container"], r["rule"]): r for r in report["results"]}
    tp = results[("app", "threat_protection")]
    assert tp["result"] == "fail" and tp["severity"] == "high"
    assert tp["properties"]["ddtrace"] == "1.9.0"
    assert tp["properties"]["verdict"] == "noncompliant"  # the workload's, on every result
    assert report["summary"]["fail"] >= 1 and report["summary"]["pass"] >= 1
    # the same fleet again: nothing to write
    assert asyncio.run(scan_and_write()) == (0, 0)
    # the workload leaves: its report goes with it
    cluster.kubectl("delete", "pod", "-n", NS, "-l", "app=api", "--wait=false")
    cluster.kubectl("delete", "deployment", "api", "-n", NS, "--wait=false")
    _, deleted = asyncio.run(scan_and_write())
    assert deleted >= 1
    # (other tests' namespaces hold Deployments named api too: this namespace's is gone)
    assert "ddcompat-deployment-api" not in cluster.kubectl("get", "policyreport", "-n", NS).stdout
