"""Benchmark of the admission webhook against a bare aiohttp handler, over TLS keep-alive.

One command: ``python bench/webhook.py``. It

1. builds the load generator (vegeta, from the Go module proxy) into ``.cache/bin`` once;
2. makes a CA and a serving certificate (trustme) and ~20 KB Pod AdmissionReviews (five
   containers, init container, managedFields), compliant and not;
3. for each server, pinned to core 0 with the load generator on core 1:
   ``ddcompat webhook serve`` (Pods of 4,096 Deployments, each judged afresh; and a
   rollout: Pods of 2 Deployments, answered from the decision cache) and a bare aiohttp
   app returning a fixed allowed review:
   - saturation: as many requests as 64 keep-alive connections get through in 10 s;
   - fixed rate 2,500 reviews/s for 10 s: p50/p99/p99.9 latency;
   - peak RSS of the server process;
4. soaks the webhook at saturation for ``--soak-requests`` (default 1,000,000) and
   prints its RSS every chunk, to show there is no growth;

and prints the figures with the ratios to the bare handler measured in the same run.
Targets (issue "Webhook"): >= 5,000 reviews/s at saturation, p99 <= 5 ms at 2,500/s,
throughput >= 0.8 x the bare handler, RSS <= 80 MiB, no growth over 1M requests.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import common

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "bin"
VEGETA_MODULE = "github.com/tsenart/vegeta/v12@v12.12.0"

BARE_SERVER = textwrap.dedent(
    """
    import ssl, sys
    from aiohttp import web
    BODY = (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",'
            b'"response":{"uid":"x","allowed":true}}')
    async def ok(request):
        await request.read()
        return web.Response(body=BODY, content_type="application/json")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    app = web.Application(client_max_size=3 * 1024 * 1024)
    app.router.add_post("/validate", ok)
    app.router.add_get("/readyz", lambda r: web.Response(text="ok"))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[3]), ssl_context=ctx,
                access_log=None, print=None)
    """
)


def vegeta() -> Path:
    exe = CACHE / "vegeta"
    if exe.exists():
        return exe
    CACHE.mkdir(parents=True, exist_ok=True)
    go = shutil.which("go")
    if go is None:
        raise SystemExit("bench/webhook.py needs Go to build its load generator (vegeta)")
    print(f"building {VEGETA_MODULE} into {CACHE} (once) ...", flush=True)
    subprocess.run(
        [go, "install", VEGETA_MODULE], check=True, env={**os.environ, "GOBIN": str(CACHE)}
    )
    return exe


def container(name: str, image: str, env: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
        "env": [{"name": k, "value": v} for k, v in env.items()]
        + [{"name": f"CONFIG_{i}", "value": f"value-{i}-" + "x" * 40} for i in range(12)],
        "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"memory": "512Mi"},
        },
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/livez", "port": 8080}, "periodSeconds": 10},
        "volumeMounts": [
            {
                "name": "kube-api-access",
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                "readOnly": True,
            },
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


def admission_review(
    ddtrace: str, python: str, workload: str = "checkout", suffix: str = "x2k9p"
) -> dict[str, Any]:
    """A Pod of the Deployment ``workload`` (named by its ReplicaSet: ``suffix`` is the
    random suffix), as the API server sends it when the ReplicaSet creates the Pod."""
    appsec = {
        "DD_APPSEC_ENABLED": "true",
        "DD_REMOTE_CONFIGURATION_ENABLED": "true",
        "DD_APPSEC_SCA_ENABLED": "true",
        "DD_SERVICE": workload,
    }
    managed: dict[str, Any] = {
        f"f:{k}": {".": {}, **{f"f:{j}": {} for j in range(8)}}
        for k in ("metadata", "spec", "status", "labels", "annotations")
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{workload}-7d9f8b6c5-{suffix}",
            "generateName": f"{workload}-7d9f8b6c5-",
            "namespace": "shop",
            "labels": {"app": workload, "pod-template-hash": "7d9f8b6c5", "tier": "frontend"},
            "annotations": {
                "ddcompat.io/ddtrace-version": ddtrace,
                "ddcompat.io/frameworks": "django==4.2.16",
                "kubectl.kubernetes.io/default-container": "app",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{workload}-7d9f8b6c5",
                    "uid": str(uuid.uuid4()),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [
                {
                    "manager": f"kube-controller-manager-{i}",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2026-11-25T10:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": copy.deepcopy(managed),
                }
                for i in range(4)
            ],
        },
        "spec": {
            "initContainers": [container("migrate", f"python:{python}-slim", {})],
            "containers": [
                container("app", f"python:{python}-slim", appsec),
                container("worker", f"python:{python}-slim", {"DD_APPSEC_SCA_ENABLED": "true"}),
                container("envoy", "envoyproxy/envoy:v1.30.1", {}),
                container("log-shipper", "fluent/fluent-bit:3.0", {}),
                container("istio-proxy", "docker.io/istio/proxyv2:1.22.0", {}),
            ],
            "volumes": [
                {"name": "tmp", "emptyDir": {}},
                {"name": "kube-api-access", "projected": {"sources": []}},
            ],
            "nodeSelector": {"kubernetes.io/arch": "amd64"},
            "serviceAccountName": workload,
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
            ],
        },
    }
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:kube-system:replicaset-controller",
                "groups": ["system:serviceaccounts", "system:authenticated"],
            },
            "object": pod,
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def wait_ready(port: int, ca: Path, proc: subprocess.Popen[bytes]) -> None:
    import ssl
    import urllib.request

    ctx = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.returncode}")
        try:
            with urllib.request.urlopen(
                f"https://127.0.0.1:{port}/readyz", context=ctx, timeout=2
            ) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not become ready")


def attack(
    exe: Path, targets: Path, ca: Path, *, rate: int, seconds: float, out: Path
) -> dict[str, Any]:
    """One vegeta run on core 1; returns counts and latency percentiles in ms."""
    args = [
        str(exe),
        "attack",
        f"-targets={targets}",
        f"-root-certs={ca}",
        "-keepalive=true",
        f"-duration={seconds}s",
        f"-output={out}",
        "-timeout=10s",
        "-max-connections=64",
    ]
    if rate == 0:
        args += ["-rate=0", "-max-workers=64", "-workers=64"]
    else:
        # open model at a fixed rate, on at most 64 kept-alive connections
        args += [f"-rate={rate}/s", "-workers=16", "-max-workers=64"]
    subprocess.run(["taskset", "-c", "1", *args], check=True)
    enc = subprocess.run(
        [str(exe), "encode", "--to=json", str(out)], check=True, capture_output=True, text=True
    )
    lat: list[float] = []
    ok = 0
    codes: dict[int, int] = {}
    for line in enc.stdout.splitlines():
        r = json.loads(line)
        codes[r["code"]] = codes.get(r["code"], 0) + 1
        if r["code"] == 200:
            ok += 1
            lat.append(r["latency"] / 1e6)
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] if lat else float("nan")

    return {
        "ok": ok,
        "codes": codes,
        "rps": ok / seconds,
        "p50": pct(50),
        "p99": pct(99),
        "p999": pct(99.9),
        "mean": statistics.fmean(lat) if lat else float("nan"),
    }


def start(cmd: list[str], port: int, ca: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["taskset", "-c", "0", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_ready(port, ca, proc)
    return proc


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=2500)
    ap.add_argument("--soak-requests", type=int, default=1_000_000)
    ap.add_argument("--distinct", type=int, default=4096, help="Pods (bodies) per run")
    args = ap.parse_args()
    import trustme

    exe = vegeta()
    with tempfile.TemporaryDirectory(prefix="ddcompat-webhook-bench-") as tmp:
        d = Path(tmp)
        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1")
        cert, key, ca_pem = d / "tls.crt", d / "tls.key", d / "ca.pem"
        cert.write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems))
        key.write_bytes(leaf.private_key_pem.bytes())
        ca.cert_pem.write_to_path(str(ca_pem))
        # "rollout": Pods of two Deployments as their ReplicaSets create them (names and
        # uids differ, what a judgement reads does not: the decision cache answers);
        # "distinct": every Pod belongs to another Deployment, more of them than the cache
        # holds, so each one is judged afresh (the worst case; the targets are judged here).
        versions = (("1.20.14", "3.11"), ("1.9.0", "3.12"))
        sets = {
            "rollout": [
                admission_review(*versions[i % 2], ("checkout", "cart")[i % 2], f"p{i:05d}")
                for i in range(args.distinct)
            ],
            "distinct": [
                admission_review(*versions[i % 2], f"svc-{i}", f"p{i:05d}")
                for i in range(args.distinct)
            ],
        }
        size = len(json.dumps(sets["rollout"][0]))
        files: dict[str, list[Path]] = {}
        for set_name, bodies in sets.items():
            files[set_name] = []
            for i, body in enumerate(bodies):
                f = d / f"{set_name}-{i}.json"
                f.write_text(json.dumps(body))
                files[set_name].append(f)
        runs = {"bare": "rollout", "ddcompat": "distinct", "rollout": "rollout"}
        results: dict[str, dict[str, Any]] = {}
        for name, body_set in runs.items():
            port = free_port()
            targets = d / f"targets-{name}.txt"
            targets.write_text(
                "\n".join(
                    f"POST https://127.0.0.1:{port}/validate\n"
                    f"Content-Type: application/json\n@{f}\n"
                    for f in files[body_set]
                )
            )
            if name == "bare":
                (d / "bare.py").write_text(BARE_SERVER)
                cmd = [sys.executable, str(d / "bare.py"), str(cert), str(key), str(port)]
            else:
                cmd = [
                    str(Path(sys.executable).parent / "ddcompat"),
                    "webhook",
                    "serve",
                    "--tls-cert",
                    str(cert),
                    "--tls-key",
                    str(key),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "WARNING",
                ]
            proc = start(cmd, port, ca_pem)
            try:
                attack(exe, targets, ca_pem, rate=0, seconds=2, out=d / "warm.bin")  # warm-up
                sat = attack(exe, targets, ca_pem, rate=0, seconds=args.seconds, out=d / "sat.bin")
                fixed = attack(
                    exe, targets, ca_pem, rate=args.rate, seconds=args.seconds, out=d / "fixed.bin"
                )
                soak: list[tuple[int, float]] = []
                if name == "ddcompat" and args.soak_requests:  # the cache fills and stays bounded
                    total = sat["ok"] + fixed["ok"]
                    chunk = max(5.0, min(60.0, 100_000 / max(sat["rps"], 1)))
                    soak.append((total, rss_mib(proc.pid)))
                    while total < args.soak_requests:
                        r = attack(exe, targets, ca_pem, rate=0, seconds=chunk, out=d / "soak.bin")
                        total += r["ok"]
                        soak.append((total, rss_mib(proc.pid)))
                        print(f"  soak: {total:,} requests, RSS {soak[-1][1]:.1f} MiB", flush=True)
                results[name] = {
                    "sat": sat,
                    "fixed": fixed,
                    "hwm": rss_mib(proc.pid, "VmHWM"),
                    "soak": soak,
                }
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        bare, dd, rollout = results["bare"], results["ddcompat"], results["rollout"]
        print(
            f"\nwebhook benchmark: ~{size / 1024:.0f} KB Pod AdmissionReviews over TLS keep-alive, "
            f"server on core 0, vegeta on core 1\n"
            f"(ddcompat: {args.distinct:,} Pods of as many Deployments, each judged afresh; "
            f"rollout: {args.distinct:,} Pods of 2 Deployments, answered by the decision cache; "
            f"the targets are judged on the ddcompat run)"
        )
        print(
            f"{'server':9} {'sat req/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>9} "
            f"{'@ rate':>7} {'non-200':>8} {'peak RSS':>9}"
        )
        for name, r in results.items():
            bad = sum(
                v for k, v in {**r["sat"]["codes"], **r["fixed"]["codes"]}.items() if k != 200
            )
            print(
                f"{name:9} {r['sat']['rps']:10,.0f} {r['fixed']['p50']:7.2f} "
                f"{r['fixed']['p99']:7.2f} "
                f"{r['fixed']['p999']:9.2f} {args.rate:7} {bad:8} {r['hwm']:7.1f}Mi"
            )
        ratio = dd["sat"]["rps"] / bare["sat"]["rps"]
        print(f"rollout: {rollout['sat']['rps'] / bare['sat']['rps']:.2f} x the bare handler")
        growth = (dd["soak"][-1][1] - dd["soak"][1][1]) if len(dd["soak"]) > 2 else float("nan")
        checks = [
            (
                f"saturation {dd['sat']['rps']:,.0f} reviews/s (target >= 5,000)",
                dd["sat"]["rps"] >= 5000,
            ),
            (
                f"p99 {dd['fixed']['p99']:.2f} ms at {args.rate}/s (target <= 5 ms)",
                dd["fixed"]["p99"] <= 5,
            ),
            (f"throughput {ratio:.2f} x the bare handler (target >= 0.8)", ratio >= 0.8),
            (f"peak RSS {dd['hwm']:.1f} MiB (target <= 80)", dd["hwm"] <= 80),
            (
                f"RSS growth over the soak after its first chunk: {growth:+.1f} MiB "
                f"({dd['soak'][-1][0] if dd['soak'] else 0:,} requests; target: none)",
                growth <= 2,
            ),
        ]
        return common.report(checks)


if __name__ == "__main__":
    sys.exit(main())
