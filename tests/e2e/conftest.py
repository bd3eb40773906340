"""A real control plane for end-to-end tests: etcd and kube-apiserver (built from the Go
module proxy by build.sh) on loopback, with generated certificates, RBAC authorization
and privileged pods allowed; torn down after the session.

If the binaries cannot be built the tests fail with the build's message: they never skip.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ddcompat.shared.sources import kubernetes as kube
from tests.tools import CACHE, ROOT, free_port, k8s_tool, write_leaf

HERE = Path(__file__).parent


def clean_env() -> dict[str, str]:
    """The environment without proxies: everything here talks to loopback."""
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


def build_binaries() -> tuple[Path, Path]:
    started = time.monotonic()
    out = subprocess.run(
        ["bash", str(HERE / "build.sh")], capture_output=True, text=True, env=clean_env()
    )
    if out.returncode != 0:
        pytest.fail(
            "could not build kube-apiserver/etcd for the end-to-end tests "
            f"(tests/e2e/build.sh exited {out.returncode}):\n{out.stderr[-3000:]}",
            pytrace=False,
        )
    if out.stderr.strip():
        sys.stderr.write(out.stderr)
    sys.stderr.write(f"e2e binaries ready in {time.monotonic() - started:.0f}s\n")
    return CACHE / "kube-apiserver", CACHE / "etcd"


class Cluster:
    def __init__(
        self,
        root: Path,
        url: str,
        ca: trustme.CA,
        ca_file: Path,
        kubeconfig: Path,
        admin: tuple[Path, Path],
    ) -> None:
        self.root, self.url, self.ca, self.ca_file = root, url, ca, ca_file
        self.kubeconfig, self.admin = kubeconfig, admin

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.load_cert_chain(*self.admin)
        return ctx

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(k8s_tool("kubectl")), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            input=input,
            check=check,
            env=clean_env(),
        )

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(k8s_tool("helm")), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=check,
            env=clean_env(),
        )

    def uid(self, kind: str, name: str, namespace: str) -> str:
        """The uid of an object (what ownerReferences and Events name)."""
        get = ("get", kind, name, "-n", namespace, "-o", "jsonpath={.metadata.uid}")
        return self.kubectl(*get).stdout

    def events(self, namespace: str, reason: str = "DdcompatGap") -> list[dict[str, Any]]:
        """The Events of a namespace with this reason."""
        out = self.kubectl(
            "get", "events", "-n", namespace, f"--field-selector=reason={reason}", "-o", "json"
        ).stdout
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return items

    def endpoint(self, token: str) -> kube.Endpoint:
        """This API server with a bearer token (a service account's)."""
        return kube.Endpoint(
            host=self.url,
            ssl=ssl.create_default_context(cafile=str(self.ca_file)),
            token=lambda: token,
        )

    def api(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))


def _pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    apiserver, etcd = build_binaries()
    root = tmp_path_factory.mktemp("control-plane")
    ca = trustme.CA(organization_name="ddcompat e2e")
    ca_file = _pem(root / "ca.crt", ca.cert_pem.bytes())
    cert, key = write_leaf(
        ca.issue_cert("127.0.0.1", "localhost", "kubernetes.default.svc"),
        root / "apiserver.crt",
        root / "apiserver.key",
    )
    # the admin client: a certificate in the system:masters group
    admin = write_leaf(
        ca.issue_cert(
            "admin.ddcompat.invalid", common_name="e2e-admin", organization_name="system:masters"
        ),
        root / "admin.crt",
        root / "admin.key",
    )
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_priv = _pem(
        root / "sa.key",
        sa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    sa_pub = _pem(
        root / "sa.pub",
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    logs = root / "logs"
    logs.mkdir()
    env = clean_env()
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(name: str, args: list[str]) -> None:
        with open(logs / f"{name}.log", "wb") as log:  # the child keeps its own descriptor
            procs.append(
                (name, subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env))
            )

    try:
        start(
            "etcd",
            [
                str(etcd),
                "--name=e2e",
                f"--data-dir={root / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=e2e=http://127.0.0.1:{peer_port}",
                "--log-level=warn",
            ],
        )
        start(
            "apiserver",
            [
                str(apiserver),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--tls-cert-file={cert}",
                f"--tls-private-key-file={key}",
                f"--client-ca-file={ca_file}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_priv}",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                "--service-cluster-ip-range=10.96.0.0/16",
                f"--cert-dir={root / 'certs'}",
                # no controller-manager runs: nothing would create the default ServiceAccounts
                "--disable-admission-plugins=ServiceAccount",
                "--v=0",
            ],
        )
        url = f"https://127.0.0.1:{api_port}"
        kubeconfig = root / "kubeconfig"
        kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: e2e, cluster: {{server: "{url}", certificate-authority: "{ca_file}"}}}}]
users: [{{name: admin, user: {{client-certificate: "{admin[0]}", client-key: "{admin[1]}"}}}}]
contexts: [{{name: e2e, context: {{cluster: e2e, user: admin}}}}]
current-context: e2e
""")
        c = Cluster(root, url, ca, ca_file, kubeconfig, admin)
        ctx = c.ssl_context()
        deadline = time.monotonic() + 120
        while True:
            for name, p in procs:
                if p.poll() is not None:
                    log_tail = (logs / f"{name}.log").read_text()[-3000:]
                    pytest.fail(f"{name} exited {p.returncode}:\n{log_tail}", pytrace=False)
            try:
                with urllib.request.urlopen(f"{url}/readyz", context=ctx, timeout=3) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    "kube-apiserver never became ready:\n"
                    + (logs / "apiserver.log").read_text()[-3000:],
                    pytrace=False,
                )
            time.sleep(0.5)
        yield c
    finally:
        for _, p in reversed(procs):
            p.terminate()
        for _, p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


__all__ = ["ROOT", "Cluster", "b64", "clean_env"]


ENV = [
    {"name": "DD_APPSEC_ENABLED", "value": "true"},
    {"name": "DD_REMOTE_CONFIGURATION_ENABLED", "value": "true"},
]


def make_fleet(cluster: Cluster, ns: str, ddtrace: str) -> None:
    """A Deployment ``api``, its ReplicaSet and two Pods in ``ns`` (no controllers run:
    made by hand, with the owner references the controllers would set)."""
    import yaml

    cluster.kubectl("create", "namespace", ns)
    template = {
        "metadata": {"labels": {"app": "api"}},
        "spec": {"containers": [{"name": "app", "image": "python:3.11", "env": ENV}]},
    }
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": ns},
        "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": template},
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(dep))
    uid = cluster.uid("deployment", "api", ns)
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "uid": uid}
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "api-7c9f",
            "namespace": ns,
            "ownerReferences": [{**owner, "controller": True}],
        },
        "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": template},
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(rs))
    rs_uid = cluster.uid("replicaset", "api-7c9f", ns)
    rs_ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-7c9f", "uid": rs_uid}
    pods = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"api-7c9f-{i}",
                "namespace": ns,
                "labels": {"app": "api", "pod-template-hash": "7c9f"},
                "annotations": {"ddcompat.io/ddtrace-version": ddtrace},
                "ownerReferences": [{**rs_ref, "controller": True}],
            },
            "spec": template["spec"],
        }
        for i in range(2)
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(pods))


def scanner_token(cluster: Cluster, release: str, *values: str) -> str:
    """A token of the scanner's service account as the chart makes it with ``values``."""
    import yaml

    from tests.tools import ROOT, k8s_tool

    sets = [arg for v in values for arg in ("--set", v)]
    out = subprocess.run(
        [
            str(k8s_tool("helm")),
            "template",
            release,
            str(ROOT / "helm" / "ddcompat"),
            "-n",
            f"ddcompat-{release}",
            "--set",
            "webhook.enabled=false",
            "--set",
            "scanner.inspectImages=false",
            *sets,
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
    cluster.kubectl("create", "namespace", f"ddcompat-{release}")
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac))
    sa = f"{release}-ddcompat-scanner"
    return cluster.kubectl("create", "token", sa, "-n", f"ddcompat-{release}").stdout.strip()
