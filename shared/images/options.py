"""The image inspector's options, one place for every front end (``check``, the scanner,
the webhook): the flags, and the inspector they make. Importing this module costs nothing;
the registry client is imported when an inspector is made."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ddcompat.shared.images import inspector

DEFAULT_MAX_BYTES = 512 << 20
DEFAULT_MAX_UNPACKED = 2 << 30
DEFAULT_TIMEOUT = 60.0
DEFAULT_RUN_TIMEOUT = 600.0


class OptionsError(ValueError):
    """A registry option that cannot be used (the message names it)."""


def add_arguments(parser: argparse.ArgumentParser, *, what: str) -> None:
    parser.add_argument(
        "--inspect-images",
        action="store_true",
        help="read ddtrace, Python and framework versions from each image in its registry "
        f"({what})",
    )
    parser.add_argument(
        "--registry-config",
        metavar="FILE",
        help="registry credentials, a Docker config.json (`auths`; default ~/.docker/config.json)",
    )
    parser.add_argument("--registry-ca", metavar="FILE", help="CA bundle for registries' TLS")
    parser.add_argument(
        "--insecure-registry",
        metavar="HOST",
        action="append",
        default=[],
        help="talk plain HTTP to this registry host[:port] (repeatable)",
    )
    parser.add_argument(
        "--inspect-max-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help="bytes read per image at most (default 512 MiB); past it: too large to inspect",
    )
    parser.add_argument(
        "--inspect-max-unpacked",
        type=int,
        default=DEFAULT_MAX_UNPACKED,
        help="bytes an image's layers may decompress to at most (default 2 GiB); past it: "
        "too large to inspect",
    )
    parser.add_argument(
        "--inspect-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="seconds one image's inspection may take (default 60); past it: timeout",
    )
    parser.add_argument(
        "--inspect-run-timeout",
        type=float,
        default=DEFAULT_RUN_TIMEOUT,
        metavar="SECONDS",
        help="seconds all the inspections of one run (or one scan) may take (default 600)",
    )


def from_arguments(args: argparse.Namespace, user_agent: str) -> inspector.Inspector | None:
    """The inspector the flags ask for (None: --inspect-images is off); OptionsError for
    a credentials file that cannot be read."""
    if not args.inspect_images:
        return None
    from ddcompat.shared.images import inspector, registry

    default = Path.home() / ".docker" / "config.json"
    config = args.registry_config or (str(default) if default.is_file() else None)
    credentials: dict[str, tuple[str, str]] = {}
    if config:
        try:
            credentials = registry.docker_config_credentials(config)
        except (OSError, ValueError) as exc:
            raise OptionsError(f"--registry-config {config}: {exc}") from None
    client = registry.Client(
        credentials=credentials,
        insecure=frozenset(args.insecure_registry),
        ca_file=args.registry_ca,
        user_agent=user_agent,
    )
    return inspector.Inspector(
        client,
        cache_dir=inspector.default_cache_dir(),
        max_bytes=args.inspect_max_bytes,
        max_unpacked=args.inspect_max_unpacked,
        deadline=args.inspect_timeout,
        run_timeout=args.inspect_run_timeout,
    )
