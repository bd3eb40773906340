"""The Helm chart, with the real helm binary: lint and template over every CI value set,
manifests validated against the Kubernetes 1.33 schemas offline, and the wiring asserted."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.helm.conftest import CHART, NAMESPACE, VALUE_SETS, by_kind, one, render
from tests.tools import ROOT

# Custom resources (cert-manager, Prometheus Operator) have no schema in kubernetes-validate.
CRD_KINDS = {"Certificate", "Issuer", "ServiceMonitor", "PrometheusRule"}


@pytest.mark.parametrize("values", VALUE_SETS, ids=lambda p: p.stem)
def test_lint(helm: Path, values: Path) -> None:
    out = subprocess.run(
        [str(helm), "lint", str(CHART), "--strict", "-f", str(values)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("values", VALUE_SETS, ids=lambda p: p.stem)
def test_manifests_match_kubernetes_schemas(helm: Path, values: Path) -> None:
    docs = render(helm, values)
    checked = 0
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(doc, "1.33", strict=True)
        checked += 1
    assert checked >= 10


def test_certgen_hooks_wire_secret_and_ca_bundle(helm: Path) -> None:
    docs = render(helm)
    secret = "rel-ddcompat-webhook-tls"
    jobs = {j["metadata"]["name"]: j for j in by_kind(docs, "Job")}
    create, patch = (
        jobs["rel-ddcompat-webhook-certgen-create"],
        jobs["rel-ddcompat-webhook-certgen-patch"],
    )
    assert create["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert patch["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    create_args = create["spec"]["template"]["spec"]["containers"][0]["args"]
    patch_args = patch["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--secret-name={secret}" in create_args and f"--secret-name={secret}" in patch_args
    hosts = next(a for a in create_args if a.startswith("--host=")).split("=", 1)[1].split(",")
    assert f"rel-ddcompat-webhook.{NAMESPACE}.svc" in hosts
    assert "--webhook-name=rel-ddcompat-webhook" in patch_args
    assert "--patch-failure-policy=Ignore" in patch_args
    deploy = one(docs, "Deployment", "webhook")
    volumes = {v["name"]: v for v in deploy["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == secret
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--tls-cert=/tls/cert" in args and "--tls-key=/tls/key" in args
    vwc = one(docs, "ValidatingWebhookConfiguration")
    assert "annotations" not in vwc["metadata"]
    cr = one(docs, "ClusterRole", "certgen")
    assert cr["rules"] == [
        {
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["validatingwebhookconfigurations"],
            "resourceNames": ["rel-ddcompat-webhook"],
            "verbs": ["get", "update"],
        }
    ]


def test_cert_manager_wiring(helm: Path) -> None:
    docs = render(helm, CHART / "ci" / "cert-manager-values.yaml")
    assert not by_kind(docs, "Job")
    cert = one(docs, "Certificate")
    assert cert["spec"]["secretName"] == "rel-ddcompat-webhook-tls"
    assert cert["spec"]["issuerRef"] == {"kind": "Issuer", "name": "rel-ddcompat-webhook"}
    assert one(docs, "Issuer")["spec"] == {"selfSigned": {}}
    vwc = one(docs, "ValidatingWebhookConfiguration")
    assert (
        vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        == f"{NAMESPACE}/rel-ddcompat-webhook"
    )
    args = one(docs, "Deployment", "webhook")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--tls-cert=/tls/tls.crt" in args and "--mode=enforce" in args
    assert {w["failurePolicy"] for w in vwc["webhooks"]} == {"Fail"}
    # a cluster issuer given in values replaces the self-signed one
    docs = render(helm, CHART / "ci" / "policy-values.yaml")
    assert not by_kind(docs, "Issuer")
    assert one(docs, "Certificate")["spec"]["issuerRef"]["kind"] == "ClusterIssuer"


def test_webhook_configuration(helm: Path) -> None:
    docs = render(helm)
    vwc = one(docs, "ValidatingWebhookConfiguration")
    hooks = {w["name"]: w for w in vwc["webhooks"]}
    assert set(hooks) == {
        "enforce.ddcompat.io",
        "warn.ddcompat.io",
        "audit.ddcompat.io",
        "default.ddcompat.io",
    }
    for name, w in hooks.items():
        assert w["sideEffects"] == "None" and w["admissionReviewVersions"] == ["v1"]
        assert w["failurePolicy"] == "Ignore" and w["timeoutSeconds"] == 5
        # Pods and the workloads that make them (issue 15), one rule per API group
        assert [(r["apiGroups"], r["apiVersions"], r["resources"]) for r in w["rules"]] == [
            ([""], ["v1"], ["pods"]),
            (["apps"], ["v1"], ["deployments", "statefulsets", "daemonsets", "replicasets"]),
            (["batch"], ["v1"], ["jobs", "cronjobs"]),
            (["argoproj.io"], ["v1alpha1"], ["rollouts"]),
        ]
        assert all(
            r["operations"] == ["CREATE", "UPDATE"] and r["scope"] == "Namespaced"
            for r in w["rules"]
        )
        exprs = w["namespaceSelector"]["matchExpressions"]
        excluded = next(e for e in exprs if e["key"] == "kubernetes.io/metadata.name")
        assert excluded["operator"] == "NotIn"
        assert set(excluded["values"]) == {"kube-system", "kube-node-lease", NAMESPACE}
        mode = next(e for e in exprs if e["key"] == "ddcompat.io/mode")
        svc = w["clientConfig"]["service"]
        assert svc["name"] == "rel-ddcompat-webhook" and svc["namespace"] == NAMESPACE
        if name == "default.ddcompat.io":
            assert mode == {"key": "ddcompat.io/mode", "operator": "DoesNotExist"}
            assert svc["path"] == "/validate"
        else:
            m = name.split(".")[0]
            assert mode == {"key": "ddcompat.io/mode", "operator": "In", "values": [m]}
            assert svc["path"] == f"/validate/{m}"
        assert w["matchConditions"][0]["name"] == "not-a-mirror-pod"


def test_selectors_match(helm: Path) -> None:
    docs = render(helm)
    deploy = one(docs, "Deployment", "webhook")
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    for selector in (
        deploy["spec"]["selector"]["matchLabels"],
        one(docs, "Service", "webhook")["spec"]["selector"],
        one(docs, "PodDisruptionBudget", "webhook")["spec"]["selector"]["matchLabels"],
        one(docs, "NetworkPolicy", "webhook")["spec"]["podSelector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
    sts = one(docs, "StatefulSet")
    sts_labels = sts["spec"]["template"]["metadata"]["labels"]
    for selector in (
        one(docs, "Service", "scanner")["spec"]["selector"],
        one(docs, "PodDisruptionBudget", "scanner")["spec"]["selector"]["matchLabels"],
        one(docs, "NetworkPolicy", "scanner")["spec"]["podSelector"]["matchLabels"],
    ):
        assert selector.items() <= sts_labels.items()
    assert not (deploy["spec"]["selector"]["matchLabels"].items() <= sts_labels.items())
    assert deploy["spec"]["replicas"] == 2
    anti = deploy["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert (
        anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"]
        == "kubernetes.io/hostname"
    )


def scanner_grants(docs: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(API group, resource, verb) of each permission the scanner's ClusterRole grants."""
    role = one(docs, "ClusterRole", "scanner")
    return {
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def test_scanner_rbac_is_exactly_what_it_lists(helm: Path) -> None:
    docs = render(helm)
    granted = scanner_grants(docs)
    listed = {
        ("", "pods", "list"),
        ("", "nodes", "list"),
        ("apps", "replicasets", "list"),
        ("batch", "jobs", "list"),
    }
    # --inspect-images (on by default): the pods' pull secrets and service accounts
    assert granted == listed | {("", "secrets", "get"), ("", "serviceaccounts", "get")}
    off = render(helm, None, "--set", "scanner.inspectImages=false")
    assert scanner_grants(off) == listed
    # and these are the paths the scanner lists
    scan_src = (ROOT / "scanner" / "scan.py").read_text()
    for path in (
        "/api/v1/pods",
        "/api/v1/nodes",
        "/apis/apps/v1/replicasets",
        "/apis/batch/v1/jobs",
    ):
        assert f'"{path}"' in scan_src
    binding = one(docs, "ClusterRoleBinding", "scanner")
    sts = one(docs, "StatefulSet")
    assert binding["subjects"][0]["name"] == sts["spec"]["template"]["spec"]["serviceAccountName"]
    assert (
        one(docs, "Deployment", "webhook")["spec"]["template"]["spec"][
            "automountServiceAccountToken"
        ]
        is False
    )


def test_scanner_shards(helm: Path) -> None:
    docs = render(helm, CHART / "ci" / "monitoring-shards-values.yaml")
    sts = one(docs, "StatefulSet")
    assert sts["spec"]["replicas"] == 3
    args = sts["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--shard=auto" in args and "--total-shards=3" in args and "--interval=120" in args


def _image_uid() -> int:
    m = re.search(r"^USER (\d+)(?::\d+)?$", (ROOT / "Dockerfile").read_text(), re.M)
    assert m, "the Dockerfile must set a numeric USER"
    return int(m.group(1))


@pytest.mark.parametrize("values", VALUE_SETS, ids=lambda p: p.stem)
def test_restricted_security_contexts(helm: Path, values: Path) -> None:
    uid = _image_uid()
    docs = render(helm, values)
    pods: list[dict[str, Any]] = []
    for d in docs:
        if d["kind"] == "Pod":
            pods.append(d["spec"])
        elif d["kind"] in ("Deployment", "StatefulSet", "Job"):
            pods.append(d["spec"]["template"]["spec"])
    assert len(pods) >= 3
    for spec in pods:
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["runAsNonRoot"] is True
            if "ddcompat" in c["image"]:
                assert sc["runAsUser"] == uid
            assert c.get("resources", {}).get("requests")


def test_policy_and_matrix_overrides(helm: Path) -> None:
    docs = render(helm, CHART / "ci" / "policy-values.yaml")
    cm = one(docs, "ConfigMap", "config")
    import yaml

    from ddcompat.shared import matrix as matrix_mod
    from ddcompat.shared import policy as policy_mod

    pol = policy_mod.from_data(yaml.safe_load(cm["data"]["policy.yaml"]))
    assert pol.require[0].features == ("threat_protection",)
    _, rows = matrix_mod.parse_matrix_file("matrix.yaml", cm["data"]["matrix.yaml"])
    assert rows["runtimes"][0]["ddtrace"] == ">=2,<3"
    for kind in ("Deployment", "StatefulSet"):
        spec = one(docs, kind)["spec"]["template"]["spec"]
        args = spec["containers"][0]["args"]
        assert (
            "--policy=/etc/ddcompat/policy.yaml" in args
            and "--matrix=/etc/ddcompat/matrix.yaml" in args
        )
        assert any(
            v["name"] == "config" and v["configMap"]["name"] == cm["metadata"]["name"]
            for v in spec["volumes"]
        )
    # the default values carry a policy too: self-exemption by annotation denied (14.9)
    default_docs = render(helm)
    args = one(default_docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--policy=/etc/ddcompat/policy.yaml" in args
    default_pol = policy_mod.from_data(
        yaml.safe_load(one(default_docs, "ConfigMap", "config")["data"]["policy.yaml"])
    )
    assert not default_pol.annotation_exemptions.allow
    assert not pol.annotation_exemptions.allow  # (values files merge over the default)


def test_monitoring_objects(helm: Path) -> None:
    assert not by_kind(render(helm), "ServiceMonitor")
    docs = render(helm, CHART / "ci" / "monitoring-shards-values.yaml")
    monitors = {m["metadata"]["name"]: m for m in by_kind(docs, "ServiceMonitor")}
    assert set(monitors) == {"rel-ddcompat-webhook", "rel-ddcompat-scanner"}
    assert monitors["rel-ddcompat-webhook"]["spec"]["endpoints"][0]["scheme"] == "https"
    assert monitors["rel-ddcompat-scanner"]["metadata"]["labels"]["release"] == "prometheus"
    rule = one(docs, "PrometheusRule")
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {
        "DdcompatScannerStale",
        "DdcompatGapsRising",
        "DdcompatWebhookDenialsSpike",
        "DdcompatWebhookErrors",
    }
    assert "> 900" in alerts["DdcompatScannerStale"]["expr"]
    dash = one(docs, "ConfigMap", "dashboard")
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    import json

    assert json.loads(dash["data"]["ddcompat.json"])["uid"] == "ddcompat-overview"


def test_helm_test_pods_and_notes(helm: Path) -> None:
    docs = render(helm)
    tests = [
        d
        for d in by_kind(docs, "Pod")
        if d["metadata"]["annotations"].get("helm.sh/hook") == "test"
    ]
    assert {t["metadata"]["name"] for t in tests} == {
        "rel-ddcompat-test-webhook",
        "rel-ddcompat-test-scanner",
    }
    for t in tests:
        script = t["spec"]["containers"][0]["args"][0]
        assert '"/readyz"' in script and '"/metrics"' in script
    out = subprocess.run(
        [str(helm), "install", "rel", str(CHART), "--dry-run=client", "-n", NAMESPACE],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "kubectl label namespace <ns> ddcompat.io/mode=enforce" in out.stdout


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("nope=1", "additional properties 'nope' not allowed"),
        ("webhook.replicas=1", "minimum: got 1, want 2"),
        ("webhook.failurePolicy=Sometimes", "failurePolicy"),
        ("webhook.defaultMode=strict", "defaultMode"),
        ("scanner.extra=1", "additional properties 'extra' not allowed"),
    ],
)
def test_values_schema_rejects(helm: Path, flag: str, message: str) -> None:
    out = subprocess.run(
        [str(helm), "template", "rel", str(CHART), "--set", flag], capture_output=True, text=True
    )
    assert out.returncode != 0 and message in out.stderr, out.stderr


def test_matrix_edition_value_reaches_both_servers(helm: Path) -> None:
    for extra, edition in (((), "current"), (("--set", "matrixEdition=seed"), "seed")):
        docs = render(helm, None, *extra)
        for kind in ("Deployment", "StatefulSet"):
            args = one(docs, kind)["spec"]["template"]["spec"]["containers"][0]["args"]
            assert f"--matrix-edition={edition}" in args
    bad = subprocess.run(
        [str(helm), "template", "rel", str(CHART), "--set", "matrixEdition=newest"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "matrixEdition" in bad.stderr


def test_webhook_kinds_are_a_value(helm: Path) -> None:
    docs = render(helm, None, "--set", "webhook.kinds={Pod,CronJob}")
    for w in one(docs, "ValidatingWebhookConfiguration")["webhooks"]:
        assert [(r["apiGroups"], r["resources"]) for r in w["rules"]] == [
            ([""], ["pods"]),
            (["batch"], ["cronjobs"]),
        ]


def test_aws_only_scanner_with_irsa(helm: Path) -> None:
    docs = render(
        helm,
        None,
        "--set",
        "scanner.kubernetes=false",
        "--set",
        "scanner.aws.regions={eu-west-1,us-east-1}",
        "--set",
        "scanner.aws.roleArn=arn:aws:iam::123456789012:role/ddcompat-scanner",
    )
    sa = one(docs, "ServiceAccount", "scanner")
    assert sa["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/ddcompat-scanner"
    }
    args = one(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--kubernetes" not in args
    assert args.count("--aws-region=eu-west-1") == 1 and "--aws-region=us-east-1" in args


def test_policy_reports_rbac_only_when_enabled(helm: Path) -> None:
    assert not any(r == "policyreports" for _, r, _ in scanner_grants(render(helm)))
    on = render(
        helm,
        None,
        "--set",
        "scanner.policyReports.enabled=true",
        "--set",
        "scanner.policyReports.results={fail,warn}",
    )
    assert {v for g, r, v in scanner_grants(on) if r == "policyreports"} == {
        "list",
        "create",
        "patch",
        "delete",
    }
    args = one(on, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--policy-reports" in args and "--policy-report-results=fail,warn" in args


def test_events_rbac_and_side_effects_only_when_enabled(helm: Path) -> None:
    off = render(helm)
    hooks = one(off, "ValidatingWebhookConfiguration")["webhooks"]
    assert {h["sideEffects"] for h in hooks} == {"None"}
    wh = one(off, "Deployment", "webhook")["spec"]["template"]["spec"]
    assert wh["automountServiceAccountToken"] is False and "serviceAccountName" not in wh
    scanner_role = one(off, "ClusterRole", "scanner")
    assert not any("events" in rule["resources"] for rule in scanner_role["rules"])
    on = render(
        helm, None, "--set", "webhook.events.enabled=true", "--set", "scanner.events.enabled=true"
    )
    hooks = one(on, "ValidatingWebhookConfiguration")["webhooks"]
    # Events are a side effect: declared, and dry runs write none
    assert {h["sideEffects"] for h in hooks} == {"NoneOnDryRun"}
    wh = one(on, "Deployment", "webhook")["spec"]["template"]["spec"]
    [account] = [
        d["metadata"]["name"]
        for d in by_kind(on, "ServiceAccount")
        if d["metadata"]["name"].endswith("-webhook")
    ]
    assert wh["serviceAccountName"] == account and "automountServiceAccountToken" not in wh
    assert "--events" in wh["containers"][0]["args"]
    role = one(on, "ClusterRole", "webhook-events")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "create", "patch"]}
    ]
    binding = one(on, "ClusterRoleBinding", "webhook-events")
    assert binding["subjects"][0]["name"] == account
    scanner_role = one(on, "ClusterRole", "scanner")
    assert {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "create", "patch"]} in (
        scanner_role["rules"]
    )
    assert "--events" in one(on, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]["args"]
