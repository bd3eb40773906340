"""The AWS source's options, one place for every front end (``check`` and the scanner): the
flags, and the :class:`aws.Options` they make. Importing this module costs nothing; the AWS
source (and boto3 with it) is imported only when a region is asked for."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ddcompat.shared.sources import aws


def add_arguments(parser: argparse.ArgumentParser, *, what: str) -> None:
    parser.add_argument(
        "--aws-region",
        metavar="REGION",
        action="append",
        default=[],
        help=f"{what} the ECS/Fargate services and Lambda functions of this AWS region "
        "(repeatable; the SDK's credential chain: env, shared config, IRSA, metadata, or "
        "--aws-profile)",
    )
    parser.add_argument("--aws-profile", metavar="NAME", help="AWS shared-config profile")
    parser.add_argument(
        "--aws-endpoint-url", metavar="URL", help="AWS API endpoint (a VPC endpoint, moto)"
    )


def from_arguments(args: argparse.Namespace) -> aws.Options | None:
    """The AWS source the flags ask for (None: no --aws-region)."""
    if not args.aws_region:
        return None
    from ddcompat.shared.sources import aws

    return aws.Options(
        regions=tuple(args.aws_region), profile=args.aws_profile, endpoint_url=args.aws_endpoint_url
    )
