"""``ddcompat webhook serve``: registered through the ``ddcompat.commands`` entry point."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ddcompat.shared import about, serving
from ddcompat.shared import settings as settings_mod
from ddcompat.shared.images import options as image_options
from ddcompat.shared.sources import kubernetes as kube
from ddcompat.webhook import app as app_mod
from ddcompat.webhook import protocol


def register(sub: Any) -> None:
    webhook = sub.add_parser("webhook", help="the validating admission webhook")
    actions = webhook.add_subparsers(dest="webhook_command", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve AdmissionReviews over TLS")
    d = app_mod.Config()
    serve.add_argument("--tls-cert", type=Path, required=True, help="PEM certificate (chain)")
    serve.add_argument("--tls-key", type=Path, required=True, help="PEM private key")
    serving.add_server_arguments(
        serve,
        host=d.host,
        port=d.port,
        kubeconfig="kubeconfig for --events (default: in-cluster)",
        events="an Event (reason DdcompatGap) on each workload denied, warned about or "
        "audited (in-cluster credentials, or --kubeconfig); written in the background",
    )
    serve.add_argument(
        "--mode",
        choices=protocol.MODES,
        default=d.default_mode,
        help="mode for /validate; /validate/<mode> overrides it per webhook entry",
    )
    settings_mod.add_arguments(serve)
    serve.add_argument(
        "--deadline-ms",
        type=float,
        default=d.deadline * 1000,
        help="answer per --failure-mode when evaluation takes longer",
    )
    serve.add_argument("--failure-mode", choices=("allow", "deny"), default="allow")
    serve.add_argument("--max-body-bytes", type=int, default=d.max_body)
    serve.add_argument("--read-timeout", type=float, default=d.read_timeout)
    serve.add_argument("--cert-poll-seconds", type=float, default=d.cert_poll_interval)
    serve.add_argument(
        "--shutdown-delay",
        type=float,
        default=d.shutdown_delay,
        help="seconds between failing readiness on SIGTERM and stopping",
    )
    serve.add_argument(
        "--cache-size",
        type=int,
        default=d.cache_size,
        help="judged Pod contents kept for identical Pods (0: off)",
    )
    image_options.add_arguments(
        serve,
        what="admission only reads the inspection cache; misses are read in the background",
    )
    serve.add_argument(
        "--events-interval",
        type=float,
        default=d.events_interval,
        help="seconds between two Events on the same workload",
    )
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    serving.setup_logging(args)
    settings = settings_mod.from_arguments(args)  # (exit 2 if bad)
    try:
        images = image_options.from_arguments(args, f"ddcompat/{about.version()}")
    except image_options.OptionsError as exc:
        raise SystemExit(f"ddcompat webhook: {exc}") from None
    events = None
    if args.events:
        try:
            events = kube.load_endpoint(args.kubeconfig)
        except Exception as exc:  # (no in-cluster account, a bad kubeconfig)
            raise SystemExit(
                f"ddcompat webhook: --events: no Kubernetes credentials: {exc}"
            ) from None
    app_mod.serve(
        app_mod.Config(
            cert=args.tls_cert,
            key=args.tls_key,
            host=args.host,
            port=args.port,
            default_mode=args.mode,
            settings=settings,
            deadline=args.deadline_ms / 1000,
            failure_allow=args.failure_mode == "allow",
            max_body=args.max_body_bytes,
            read_timeout=args.read_timeout,
            cert_poll_interval=args.cert_poll_seconds,
            shutdown_delay=args.shutdown_delay,
            cache_size=args.cache_size,
            images=images,
            events=events,
            events_interval=args.events_interval,
        )
    )
    return 0
