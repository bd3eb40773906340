"""PolicyReports in the real kube-apiserver (issue 18.1): with the wg-policy CRD applied,
the scanner writes one report per workload, owned by it, with the RBAC the chart grants;
`kubectl get policyreport -A` shows them; a second scan of the same fleet writes nothing;
a workload that leaves the fleet takes its report with it. No kube-controller-manager runs
here, so the garbage collector's part is asserted as the ownerReference (the report names
the Deployment's uid), and the workload's pods are deleted explicitly."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess

import aiohttp
import pytest
import yaml

from ddcompat.scanner import reports
from ddcompat.scanner import scan as scan_mod
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod
from ddcompat.shared.sources import kubernetes as kube
from tests.e2e.conftest import Cluster
from tests.tools import ROOT, k8s_tool

CRD = ROOT / "tests" / "e2e" / "crds" / "wgpolicyk8s.io_policyreports.yaml"
NS = "reports-e2e"
ENV = [
    {"name": "DD_APPSEC_ENABLED", "value": "true"},
    {"name": "DD_REMOTE_CONFIGURATION_ENABLED", "value": "true"},
]


@pytest.fixture(scope="module")
def fleet(cluster: Cluster) -> None:
    """A Deployment, its ReplicaSet and two Pods (no controllers run: made by hand, with
    the owner references the controllers would set)."""
    cluster.kubectl("create", "namespace", NS)
    template = {
        "metadata": {"labels": {"app": "api"}},
        "spec": {"containers": [{"name": "app", "image": "python:3.11", "env": ENV}]},
    }
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": template},
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(dep))
    uid = cluster.kubectl(
        "get", "deployment", "api", "-n", NS, "-o", "jsonpath={.metadata.uid}"
    ).stdout
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "api-7c9f",
            "namespace": NS,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "api",
                    "uid": uid,
                    "controller": True,
                }
            ],
        },
        "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": template},
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(rs))
    rs_uid = cluster.kubectl(
        "get", "replicaset", "api-7c9f", "-n", NS, "-o", "jsonpath={.metadata.uid}"
    ).stdout
    pods = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"api-7c9f-{i}",
                "namespace": NS,
                "labels": {"app": "api", "pod-template-hash": "7c9f"},
                "annotations": {"ddcompat.io/ddtrace-version": "1.9.0"},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": "api-7c9f",
                        "uid": rs_uid,
                        "controller": True,
                    }
                ],
            },
            "spec": template["spec"],
        }
        for i in range(2)
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(pods))


@pytest.fixture(scope="module")
def reports_token(cluster: Cluster) -> str:
    """The scanner's service account as the chart makes it with policyReports enabled."""
    out = subprocess.run(
        [
            str(k8s_tool("helm")),
            "template",
            "rep",
            str(ROOT / "helm" / "ddcompat"),
            "-n",
            "ddcompat-rep",
            "--set",
            "webhook.enabled=false",
            "--set",
            "scanner.policyReports.enabled=true",
            "--set",
            "scanner.inspectImages=false",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rbac = [
        d
        for d in yaml.safe_load_all(out)
        if d
        and d["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")
        and "scanner" in d["metadata"]["name"]
    ]
    cluster.kubectl("create", "namespace", "ddcompat-rep")
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac))
    return cluster.kubectl(
        "create", "token", "rep-ddcompat-scanner", "-n", "ddcompat-rep"
    ).stdout.strip()


def test_reports_written_owned_and_removed(
    cluster: Cluster,
    reports_token: str,
    fleet: None,
) -> None:
    endpoint = kube.Endpoint(
        host=cluster.url,
        ssl=ssl.create_default_context(cafile=str(cluster.ca_file)),
        token=lambda: reports_token,
    )
    opts = scan_mod.Options(kubernetes=True, endpoint=endpoint)
    judging = scan_mod.Judging(matrix_mod.load(edition="seed"), policy_mod.DEFAULT)
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
    uid = cluster.kubectl(
        "get", "deployment", "api", "-n", NS, "-o", "jsonpath={.metadata.uid}"
    ).stdout
    [owner] = report["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Deployment", "api", uid)
    results = {(r["properties"]["container"], r["rule"]): r for r in report["results"]}
    tp = results[("app", "threat_protection")]
    assert tp["result"] == "fail" and tp["severity"] == "high"
    assert tp["properties"]["ddtrace"] == "1.9.0"
    assert report["summary"]["fail"] >= 1 and report["summary"]["pass"] >= 1
    # the same fleet again: nothing to write
    assert asyncio.run(scan_and_write()) == (0, 0)
    # the workload leaves: its report goes with it
    cluster.kubectl("delete", "pod", "-n", NS, "-l", "app=api", "--wait=false")
    cluster.kubectl("delete", "deployment", "api", "-n", NS, "--wait=false")
    _, deleted = asyncio.run(scan_and_write())
    assert deleted >= 1
    assert "ddcompat-deployment-api" not in cluster.kubectl("get", "policyreport", "-A").stdout
