"""What every front end loads before it judges anything: the matrix (edition and user
files), the policy, and the day release lifecycles are judged on.

``check``, ``matrix show``, ``webhook serve`` and ``scanner run`` all load them here, so a
bad file gives the same one-line error (file, row, field) and exit status 2 everywhere.
"""

from __future__ import annotations

import argparse
import datetime
import os
from collections.abc import Sequence
from pathlib import Path

import msgspec

from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod


class ConfigError(ValueError):
    """A matrix or policy file that cannot be used; the message names file and field."""


EDITION_ENV = "DDCOMPAT_MATRIX_EDITION"


class Settings(msgspec.Struct, frozen=True):
    matrix: matrix_mod.Matrix
    policy: policy_mod.Policy
    # the day lifecycles are judged on; None: today, as the calendar moves
    as_of: datetime.date | None = None

    @classmethod
    def load(
        cls,
        matrix_files: Sequence[str | Path] = (),
        policy_file: str | Path | None = None,
        *,
        edition: str | None = None,
        as_of: str | datetime.date | None = None,
    ) -> Settings:
        """The built-in matrix of ``edition`` (else ``$DDCOMPAT_MATRIX_EDITION``, else
        the default) plus ``matrix_files``, the policy and the day; ConfigError names
        what is wrong."""
        edition = edition or os.environ.get(EDITION_ENV) or matrix_mod.DEFAULT_EDITION
        if edition not in matrix_mod.EDITIONS:
            raise ConfigError(
                f"matrix edition {edition!r} is not one of {', '.join(matrix_mod.EDITIONS)}"
                + (f" (from ${EDITION_ENV})" if edition == os.environ.get(EDITION_ENV) else "")
            )
        day = _day(as_of)
        try:
            m = (
                matrix_mod.load([Path(p) for p in matrix_files], edition=edition)
                if matrix_files
                else matrix_mod.builtin(edition)
            )
        except matrix_mod.MatrixError as exc:
            raise ConfigError(str(exc)) from None
        try:
            pol = policy_mod.load(policy_file) if policy_file else policy_mod.DEFAULT
        except policy_mod.PolicyError as exc:
            raise ConfigError(str(exc)) from None
        return cls(m, pol, day)

    @classmethod
    def default(cls) -> Settings:
        """The built-in matrix (edition per ``$DDCOMPAT_MATRIX_EDITION``), no policy."""
        return cls.load()


def add_arguments(parser: argparse.ArgumentParser, *, policy: bool = True) -> None:
    """The options every command reads its settings from (one definition for all)."""
    parser.add_argument(
        "--matrix",
        metavar="FILE",
        action="append",
        default=[],
        help="extra matrix YAML added to the built-in edition (repeatable)",
    )
    parser.add_argument(
        "--matrix-edition",
        choices=matrix_mod.EDITIONS,
        default=None,
        help=f"built-in matrix edition (default: ${EDITION_ENV}, else "
        f"{matrix_mod.DEFAULT_EDITION})",
    )
    parser.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        default=None,
        help="judge release lifecycles as of this day (default: today)",
    )
    if policy:
        parser.add_argument(
            "--policy", metavar="FILE", help="policy YAML (severities, requirements, exemptions)"
        )


def from_arguments(args: argparse.Namespace) -> Settings:
    """:meth:`Settings.load` from the options of :func:`add_arguments`."""
    return Settings.load(
        args.matrix,
        getattr(args, "policy", None),
        edition=args.matrix_edition,
        as_of=args.as_of,
    )


def _day(as_of: str | datetime.date | None) -> datetime.date | None:
    if as_of is None or isinstance(as_of, datetime.date):
        return as_of
    try:
        return datetime.date.fromisoformat(as_of)
    except ValueError:
        raise ConfigError(f"--as-of {as_of!r}: give a date as YYYY-MM-DD") from None
