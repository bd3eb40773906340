"""``ddcompat scanner run``: registered through the ``ddcompat.commands`` entry point."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path
from typing import Any

from ddcompat.scanner import app as app_mod
from ddcompat.scanner import reports
from ddcompat.scanner import scan as scan_mod
from ddcompat.shared import about, serving
from ddcompat.shared import settings as settings_mod
from ddcompat.shared.images import options as image_options
from ddcompat.shared.sources import aws_options
from ddcompat.shared.sources import kubernetes as kube


def register(sub: Any) -> None:
    scanner = sub.add_parser("scanner", help="the periodic fleet scanner (Prometheus metrics)")
    actions = scanner.add_subparsers(dest="scanner_command", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="scan on an interval and serve /metrics")
    run.add_argument(
        "--kubernetes",
        action="store_true",
        help="scan the cluster (in-cluster config, or --kubeconfig)",
    )
    serving.add_server_arguments(
        run,
        host="0.0.0.0",
        port=9090,
        kubeconfig="kubeconfig file (default: in-cluster, then ~/.kube/config)",
        events="an Event (reason DdcompatGap) on a workload when a scan finds a new gap",
    )
    run.add_argument("--context", help="kubeconfig context")
    run.add_argument(
        "--path",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="descriptor files or directories, as for `ddcompat check` (repeatable)",
    )
    run.add_argument("--interval", type=float, default=300.0, help="seconds between scans")
    run.add_argument("--jitter", type=float, default=0.1, help="fraction of the interval")
    run.add_argument("--page-size", type=int, default=500)
    run.add_argument(
        "--shard",
        default="0",
        help="this instance's shard, or 'auto': the StatefulSet ordinal in the hostname",
    )
    run.add_argument("--total-shards", type=int, default=1)
    run.add_argument(
        "--max-series",
        type=int,
        default=200_000,
        help="budget of per-workload series (info + feature status)",
    )
    run.add_argument(
        "--scan-endpoint",
        choices=("on", "off"),
        default="on",
        help="serve POST /scan (start the next scan now); off: scans run on the interval only",
    )
    run.add_argument(
        "--scan-token-file",
        metavar="FILE",
        help="POST /scan needs `Authorization: Bearer <the token in this file>`",
    )
    image_options.add_arguments(
        run, what="the running digests of pods; misses are read after each scan"
    )
    aws_options.add_arguments(run, what="scan")
    run.add_argument(
        "--policy-reports",
        action="store_true",
        help="write a PolicyReport (wgpolicyk8s.io/v1alpha2) per workload after each scan",
    )
    run.add_argument(
        "--policy-report-results",
        default="pass,fail,warn,skip",
        metavar="LIST",
        help="the results written (e.g. fail,warn to keep etcd small)",
    )
    settings_mod.add_arguments(run)
    run.set_defaults(handler=_run)


def shard_from(value: str, hostname: str | None = None) -> int:
    """``3`` -> 3; ``auto`` -> the ordinal ending a StatefulSet pod's hostname (``x-3``)."""
    if value != "auto":
        try:
            return int(value)
        except ValueError:
            raise SystemExit(
                f"ddcompat scanner run: --shard {value!r}: give a number or auto"
            ) from None
    host = hostname if hostname is not None else socket.gethostname()
    head, _, ordinal = host.rpartition("-")
    if not head or not ordinal.isdigit():
        raise SystemExit(f"ddcompat scanner run: --shard auto: hostname {host!r} has no -<ordinal>")
    return int(ordinal)


def _run(args: argparse.Namespace) -> int:
    serving.setup_logging(args)
    if not args.kubernetes and not args.path and not args.aws_region:
        raise SystemExit("ddcompat scanner run: give --kubernetes, --path and/or --aws-region")
    args.shard = shard_from(args.shard)
    if not 0 <= args.shard < args.total_shards:
        raise SystemExit("ddcompat scanner run: --shard must be in [0, --total-shards)")
    settings = settings_mod.from_arguments(args)  # (exit 2 if bad)
    endpoint = None
    if args.kubernetes:
        endpoint = kube.load_endpoint(args.kubeconfig, args.context)
    options = scan_mod.Options(
        kubernetes=args.kubernetes,
        endpoint=endpoint,
        paths=tuple(args.path),
        page_size=args.page_size,
        shard=args.shard,
        total_shards=args.total_shards,
        max_series=args.max_series,
        inspect_images=args.inspect_images,
        aws=aws_options.from_arguments(args),
    )
    try:
        images = image_options.from_arguments(args, f"ddcompat/{about.version()}")
    except image_options.OptionsError as exc:
        raise SystemExit(f"ddcompat scanner: {exc}") from None
    app_mod.serve(
        app_mod.Config(
            options=options,
            interval=args.interval,
            jitter=args.jitter,
            host=args.host,
            port=args.port,
            settings=settings,
            trigger_enabled=args.scan_endpoint == "on",
            trigger_token=_token(args.scan_token_file),
            images=images,
            policy_reports=_results(args.policy_report_results) if args.policy_reports else None,
            events=args.events,
        )
    )
    return 0


def _results(raw: str) -> frozenset[str]:
    chosen = frozenset(r.strip() for r in raw.split(",") if r.strip())
    bad = chosen - frozenset(reports.RESULTS)
    if bad or not chosen:
        raise SystemExit(
            f"ddcompat scanner: --policy-report-results: {', '.join(sorted(bad)) or '(none)'}"
            f" (choose from {', '.join(reports.RESULTS)})"
        )
    return chosen


def _token(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SystemExit(
            f"ddcompat scanner: --scan-token-file {path}: {exc.strerror or exc}"
        ) from None
    if not token:
        raise SystemExit(f"ddcompat scanner: --scan-token-file {path} is empty")
    return token
