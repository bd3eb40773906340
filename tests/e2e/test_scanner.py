"""The scanner against a real kube-apiserver, authenticated as the chart's ServiceAccount
bound to the chart's ClusterRole: its metrics show the expected gaps, and a request
outside its RBAC is refused by the real authorizer."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import prometheus_client
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ddcompat.scanner import collector
from ddcompat.scanner import scan as scan_mod
from ddcompat.shared import judge as judge_mod
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod
from tests.e2e.conftest import Cluster, clean_env, scanner_token
from tests.tools import free_port, wait_ready

NS = "scan-e2e"


@pytest.fixture(scope="module")
def token(cluster: Cluster) -> str:
    """The scanner's service account as the chart makes it by default (image inspection on)."""
    return scanner_token(cluster, "scan", "scanner.inspectImages=true")


@pytest.fixture(scope="module")
def fleet(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", NS)
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "pi-1",
            "labels": {"kubernetes.io/os": "linux", "kubernetes.io/arch": "arm"},
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(node))
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "app", "image": "python:3.11"}]},
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(deploy))
    uid = cluster.uid("deployment", "api", NS)
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "api-5d8f",
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
        "spec": {
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "app", "image": "python:3.11"}]},
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(rs))
    rs_uid = cluster.uid("replicaset", "api-5d8f", NS)
    env = [
        {"name": "DD_APPSEC_ENABLED", "value": "true"},
        {"name": "DD_REMOTE_CONFIGURATION_ENABLED", "value": "true"},
    ]
    pods = []
    for i in range(3):
        pods.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"api-5d8f-{i}",
                    "namespace": NS,
                    "labels": {"app": "api", "pod-template-hash": "5d8f"},
                    "annotations": {"ddcompat.io/ddtrace-version": "1.9.0"},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": "api-5d8f",
                            "uid": rs_uid,
                            "controller": True,
                        }
                    ],
                },
                "spec": {
                    "containers": [
                        {"name": "app", "image": "python:3.11", "env": env},
                        {"name": "proxy", "image": "envoyproxy/envoy:v1.30.1"},
                    ]
                },
            }
        )
    pods.append(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "edge",
                "namespace": NS,
                "annotations": {"ddcompat.io/ddtrace-version": "1.20.0"},
            },
            "spec": {
                "nodeName": "pi-1",
                "containers": [{"name": "app", "image": "python:3.11", "env": env[:1]}],
            },
        }
    )
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(pods))


def test_scanner_metrics_from_the_real_apiserver(cluster: Cluster, token: str, fleet: None) -> None:
    endpoint = cluster.endpoint(token)
    opts = scan_mod.Options(kubernetes=True, endpoint=endpoint, page_size=2)

    async def scan() -> scan_mod.Snapshot:
        async with aiohttp.ClientSession() as s:
            return await scan_mod.scan(
                s, opts, judge_mod.Judge(matrix_mod.load(edition="seed"), policy_mod.DEFAULT)
            )

    snap = asyncio.run(scan())
    assert snap.errors == ()
    api = snap.entries[(NS, "Deployment", "api", "app")]
    assert api.pods == 3
    assert dict(api.statuses) == {
        "threat_detection": "supported",
        "threat_protection": "unsupported",
    }
    edge = snap.entries[(NS, "Pod", scan_mod.BARE_PODS, "app")]  # a bare pod: never its name
    assert str(edge.result.workload.facts.platform) == "linux/arm"  # from the node
    registry = collector.SelfMetrics.create(collector.Published(snapshot=snap)).registry
    text = prometheus_client.generate_latest(registry).decode()
    gaps = {
        (s.labels["feature"], s.labels["code"]): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "ddcompat_namespace_gaps" and s.labels["namespace"] == NS
    }
    assert gaps == {
        ("threat_protection", "DDTRACE_TOO_OLD"): 1.0,
        ("threat_detection", "PLATFORM_UNSUPPORTED"): 1.0,
    }


def test_outside_its_rbac_is_refused(cluster: Cluster, token: str) -> None:
    ctx = ssl.create_default_context(cafile=str(cluster.ca_file))
    for path in ("/api/v1/secrets", "/api/v1/namespaces/default/configmaps"):
        req = urllib.request.Request(
            cluster.url + path, headers={"Authorization": f"Bearer {token}"}
        )
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req, context=ctx, timeout=10)
        assert exc.value.code == 403
        assert (
            "system:serviceaccount:ddcompat-scan:scan-ddcompat-scanner" in exc.value.read().decode()
        )
    ok = urllib.request.Request(
        cluster.url + "/api/v1/pods?limit=1", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(ok, context=ctx, timeout=10) as r:
        assert r.status == 200


def test_scanner_service_with_a_kubeconfig(
    cluster: Cluster, token: str, fleet: None, tmp_path: Path
) -> None:
    """`ddcompat scanner run --kubernetes --kubeconfig` as a process: the credentials come
    from a kubeconfig with the ServiceAccount's token, and /metrics shows the gaps."""
    kubeconfig = tmp_path / "scanner.kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: e2e, cluster: "
        f'{{server: "{cluster.url}", certificate-authority: "{cluster.ca_file}"}}}}]\n'
        f'users: [{{name: scanner, user: {{token: "{token}"}}}}]\n'
        "contexts: [{name: e2e, context: {cluster: e2e, user: scanner}}]\ncurrent-context: e2e\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "ddcompat"),
            "scanner",
            "run",
            "--kubernetes",
            f"--kubeconfig={kubeconfig}",
            "--host=127.0.0.1",
            f"--port={port}",
            "--interval=3600",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=clean_env(),
    )
    text = ""
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/readyz", timeout=60)
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as r:
            text = r.read().decode()
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0].decode()
    series = [
        (s.name, s.labels, s.value)
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    ]
    gap = {"namespace": NS, "feature": "threat_protection", "code": "DDTRACE_TOO_OLD"}
    assert ("ddcompat_namespace_gaps", gap, 1.0) in series, out + text
    assert ("ddcompat_snapshot_stale", {}, 0.0) in series
    assert "scan complete" in out
