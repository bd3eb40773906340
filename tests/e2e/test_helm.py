"""`helm install` of the chart into the real kube-apiserver: every object passes real API
validation (hooks are skipped: no kubelet runs to execute the certgen Jobs)."""

from __future__ import annotations

import json

from tests.e2e.conftest import Cluster
from tests.tools import ROOT


def test_helm_install(cluster: Cluster) -> None:
    chart = str(ROOT / "helm" / "ddcompat")
    out = cluster.helm(
        "install",
        "rel",
        chart,
        "-n",
        "ddcompat",
        "--create-namespace",
        "--no-hooks",
        "-f",
        str(ROOT / "helm" / "ddcompat" / "ci" / "policy-values.yaml"),
        "--set",
        "webhook.certs.certManager.enabled=false",
        check=False,
    )
    assert out.returncode == 0, out.stderr
    try:
        kinds = json.loads(
            cluster.kubectl(
                "get",
                "deployment,statefulset,service,poddisruptionbudget,configmap",
                "-n",
                "ddcompat",
                "-o",
                "json",
            ).stdout
        )
        names = {(i["kind"], i["metadata"]["name"]) for i in kinds["items"]}
        assert ("Deployment", "rel-ddcompat-webhook") in names
        assert ("StatefulSet", "rel-ddcompat-scanner") in names
        assert ("PodDisruptionBudget", "rel-ddcompat-webhook") in names
        assert ("ConfigMap", "rel-ddcompat-config") in names
        vwc = json.loads(
            cluster.kubectl(
                "get", "validatingwebhookconfiguration", "rel-ddcompat-webhook", "-o", "json"
            ).stdout
        )
        assert len(vwc["webhooks"]) == 4
        assert cluster.kubectl("get", "clusterrole", "rel-ddcompat-scanner").returncode == 0
        status = cluster.helm("status", "rel", "-n", "ddcompat").stdout
        assert "STATUS: deployed" in status
    finally:
        cluster.helm("uninstall", "rel", "-n", "ddcompat", "--no-hooks", check=False)
