"""Benchmark of one scanner pass over 100,000 pods, against the download-and-parse floor.

One command: ``python bench/scanner.py [--pods 100000]``. A local server (the test
suite's fake API server, in its own process on core 1) serves the pods 500 per page, with
their ReplicaSets, Jobs and nodes; then, each in a fresh process on core 0:

* the floor: download every page of the same lists and parse it (orjson, as the scanner),
  once as is and once with the cyclic GC paused as the scanner pauses it; the ratio is
  taken against the faster of the two
* the scanner: one complete ``scan()`` (owner lookups, pods, evaluation, snapshot)

It prints wall time, CPU seconds, peak RSS and the ratio to the floor measured in the
same run. Targets (issue "Scanner"): <= 1.3x the floor, peak RSS <= 256 MiB, <= 60 s.
Pods look like the API server's (managedFields, status, several containers), ~20 per
Deployment, so most share a pod template as real ReplicaSets do.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import common

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import tools  # noqa: E402  (free ports, readiness waits)

PATHS = ["/apis/apps/v1/replicasets", "/apis/batch/v1/jobs", "/api/v1/nodes", "/api/v1/pods"]


def fleet(n: int) -> dict[str, list[dict[str, Any]]]:
    from tests.scanner.fake_apiserver import node, owned, pod

    versions = ["1.9.0", "1.20.14", "1.17.1", "2.6.1", "v1", "1.4.0"]
    images = ["python:3.11-slim", "python:3.12-slim", "python:3.9", "python:3.10-bookworm"]
    status = {
        "phase": "Running",
        "conditions": [
            {"type": t, "status": "True", "lastTransitionTime": "2026-11-20T10:00:00Z"}
            for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
        ],
        "containerStatuses": [
            {
                "name": c,
                "ready": True,
                "restartCount": 0,
                "image": "x",
                "imageID": "sha256:" + "a" * 64,
                "containerID": "containerd://" + "b" * 64,
                "started": True,
                "state": {"running": {"startedAt": "2026-11-20T10:00:00Z"}},
            }
            for c in ("app", "proxy")
        ],
        "hostIP": "10.0.0.1",
        "podIP": "10.1.2.3",
        "qosClass": "Burstable",
        "startTime": "2026-11-20T10:00:00Z",
    }
    managed = [
        {
            "manager": m,
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-11-20T10:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {f"f:c{i}": {} for i in range(20)},
            },
        }
        for m in ("kube-controller-manager", "kubelet")
    ]
    pods, rss = [], []
    deployments = max(1, n // 20)
    for d in range(deployments):
        ns = f"team-{d % 200}"
        rss.append(owned("ReplicaSet", f"svc-{d}-5d8f", ns, ("Deployment", f"svc-{d}")))
    for i in range(n):
        d = i % deployments
        p = pod(
            i,
            namespace=f"team-{d % 200}",
            owner=("ReplicaSet", f"svc-{d}-5d8f"),
            ddtrace=versions[d % len(versions)],
            image=images[d % len(images)],
            node=f"node-{i % 300}",
            env={
                "DD_APPSEC_ENABLED": "true",
                "DD_REMOTE_CONFIGURATION_ENABLED": "true",
                "DD_APPSEC_SCA_ENABLED": "true",
                "DD_SERVICE": f"svc-{d}",
                "DD_ENV": "prod",
            },
        )
        p["metadata"]["managedFields"] = copy.deepcopy(managed)
        p["status"] = status
        pods.append(p)
    nodes = [node(f"node-{i}", arch="arm64" if i % 3 == 0 else "amd64") for i in range(300)]
    return {"pods": pods, "replicasets": rss, "jobs": [], "nodes": nodes}


def serve(port: int, n: int) -> None:
    from aiohttp import web

    from tests.scanner.fake_apiserver import FakeAPIServer

    server = FakeAPIServer(fleet(n))
    web.run_app(server.app, host="127.0.0.1", port=port, access_log=None, print=None)


async def floor(host: str, page_size: int) -> int:
    import aiohttp
    import orjson

    items = 0
    async with aiohttp.ClientSession() as s:
        for path in PATHS:
            cont = None
            while True:
                params = {"limit": str(page_size), **({"continue": cont} if cont else {})}
                async with s.get(host + path, params=params) as r:
                    page = orjson.loads(await r.read())
                items += len(page["items"])
                cont = page["metadata"].get("continue")
                if not cont:
                    break
    return items


async def scanner(host: str, page_size: int) -> int:
    import aiohttp

    from ddcompat.scanner import scan as scan_mod
    from ddcompat.shared import judge as judge_mod
    from ddcompat.shared import matrix, policy
    from ddcompat.shared.sources import kubernetes as kube

    opts = scan_mod.Options(
        kubernetes=True, endpoint=kube.Endpoint(host=host, ssl=False), page_size=page_size
    )
    async with aiohttp.ClientSession() as s:
        snap = await scan_mod.scan(s, opts, judge_mod.Judge(matrix.builtin(), policy.DEFAULT))
    assert not snap.errors, snap.errors[:3]
    return sum(e.pods for e in snap.entries.values())


def child(mode: str, host: str, page_size: int) -> None:
    start, cpu0 = time.perf_counter(), time.process_time()
    if mode == "floor-nogc":
        import gc

        gc.disable()
    fn = floor if mode.startswith("floor") else scanner
    count = asyncio.run(fn(host, page_size))
    print(
        json.dumps(
            {
                "wall": time.perf_counter() - start,
                "cpu": time.process_time() - cpu0,
                "count": count,
                "rss": common.peak_rss_mib(),
            }
        )
    )


def measure(mode: str, host: str, page_size: int, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            ["taskset", "-c", "0", sys.executable, __file__, "--child", mode, host, str(page_size)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return min(runs, key=lambda r: r["wall"])


def aws_floor(endpoint: str, region: str) -> int:
    """The API calls an AWS read makes, alone (no parsing, no judging): items seen."""
    import boto3

    kw = {"region_name": region, "endpoint_url": endpoint}
    ecs, lam, sts = (
        boto3.client("ecs", **kw),
        boto3.client("lambda", **kw),
        boto3.client("sts", **kw),
    )
    sts.get_caller_identity()
    seen = 0
    revisions = set()
    for page in ecs.get_paginator("list_clusters").paginate():
        for cluster in page["clusterArns"]:
            arns = [
                a
                for p in ecs.get_paginator("list_services").paginate(cluster=cluster)
                for a in p["serviceArns"]
            ]
            for i in range(0, len(arns), 10):
                for svc in ecs.describe_services(cluster=cluster, services=arns[i : i + 10])[
                    "services"
                ]:
                    revisions.add(svc["taskDefinition"])
            tasks = [
                t
                for p in ecs.get_paginator("list_tasks").paginate(
                    cluster=cluster, desiredStatus="RUNNING"
                )
                for t in p["taskArns"]
            ]
            for i in range(0, len(tasks), 100):
                ecs.describe_tasks(cluster=cluster, tasks=tasks[i : i + 100])
    for arn in sorted(revisions):
        ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
        seen += 1
    for page in lam.get_paginator("list_functions").paginate():
        for fn in page["Functions"]:
            lam.list_tags(Resource=fn["FunctionArn"])
            seen += 1
    return seen


def aws_bench(services: int, functions: int, repeat: int) -> int:
    """`--aws`: a scan of a fleet seeded in moto's standalone server, against the floor of
    the same API calls alone."""
    import os

    from ddcompat.scanner import scan as scan_mod
    from ddcompat.shared import judge as judge_mod
    from ddcompat.shared import matrix, policy
    from ddcompat.shared.sources import aws
    from tests.aws.conftest import REGION, seed

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ[key] = "testing"
    port = tools.free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen(
        [
            "taskset",
            "-c",
            "1",
            str(Path(sys.executable).parent / "moto_server"),
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        tools.wait_ready(f"{endpoint}/moto-api/", proc=moto)
        seed(endpoint, services=services, functions=functions)
        judging = judge_mod.Judge(matrix.builtin(), policy.DEFAULT)
        opts = scan_mod.Options(aws=aws.Options(regions=(REGION,), endpoint_url=endpoint, pace=0))
        floors, scans = [], []
        for _ in range(repeat):
            t = time.perf_counter()
            aws_floor(endpoint, REGION)
            floors.append(time.perf_counter() - t)
            t = time.perf_counter()
            snap = asyncio.run(scan_mod.scan(None, opts, judging))
            scans.append(time.perf_counter() - t)
            assert not snap.errors, snap.errors
    finally:
        moto.terminate()
        moto.wait()
    floor, scan = min(floors), min(scans)
    ratio = scan / floor
    print(
        f"\nAWS scan: {services} ECS services, {functions + 1} Lambda functions in moto, "
        f"best of {repeat}"
    )
    print(
        f"  floor (the API calls alone) {floor:.2f} s; scan {scan:.2f} s "
        f"({len(snap.entries)} entries)"
    )
    return common.report([(f"scan / API-call floor = {ratio:.2f} (target <= 1.3)", ratio <= 1.3)])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--aws", action="store_true", help="benchmark the AWS source instead")
    ap.add_argument("--services", type=int, default=60)
    ap.add_argument("--functions", type=int, default=100)
    ap.add_argument("--pods", type=int, default=100_000)
    ap.add_argument("--page-size", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--child", nargs=3)
    ap.add_argument("--serve", nargs=2, type=int)
    args = ap.parse_args()
    if args.aws:
        return aws_bench(args.services, args.functions, args.repeat)
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    if args.serve:
        serve(*args.serve)
        return 0
    port = tools.free_port()
    host = f"http://127.0.0.1:{port}"
    srv = subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, __file__, "--serve", str(port), str(args.pods)]
    )
    try:
        # (the fake API server builds its fleet first: minutes for the largest)
        tools.wait_ready(f"{host}/api/v1/nodes?limit=1", proc=srv, timeout=300)
        fl_gc = measure("floor", host, args.page_size, args.repeat)
        fl_nogc = measure("floor-nogc", host, args.page_size, args.repeat)
        fl = min(fl_gc, fl_nogc, key=lambda r: r["wall"])
        sc = measure("scanner", host, args.page_size, args.repeat)
    finally:
        srv.terminate()
        srv.wait()
    ratio = sc["wall"] / fl["wall"]  # against the faster floor
    print(
        f"\nscanner benchmark: {args.pods:,} pods, {args.page_size}/page, one core, "
        f"best of {args.repeat}"
    )
    print(f"{'run':8} {'wall s':>7} {'cpu s':>6} {'peak RSS':>9} {'items':>9}")
    for name, r in (("floor", fl_gc), ("floor*", fl_nogc)):
        print(f"{name:8} {r['wall']:7.2f} {r['cpu']:6.2f} {r['rss']:7.1f}Mi {r['count']:9,}")
    print(
        f"{'scanner':8} {sc['wall']:7.2f} {sc['cpu']:6.2f} {sc['rss']:7.1f}Mi {sc['count']:9,} pods"
    )
    print("(floor* = the floor with the cyclic GC paused)")
    checks = [
        (f"scan / faster floor = {ratio:.2f} (target <= 1.3)", ratio <= 1.3),
        (f"peak RSS {sc['rss']:.0f} MiB (target <= 256)", sc["rss"] <= 256),
        (f"wall {sc['wall']:.1f} s (target <= 60)", sc["wall"] <= 60),
        (f"every pod counted: {sc['count']:,} of {args.pods:,}", sc["count"] == args.pods),
    ]
    return common.report(checks)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
