"""What every front end loads before it judges anything: the matrix and the policy.

``check``, ``matrix show``, ``webhook serve`` and ``scanner run`` all load them here, so a
bad file gives the same one-line error (file, row, field) and exit status 2 everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod


class ConfigError(ValueError):
    """A matrix or policy file that cannot be used; the message names file and field."""


class Settings(msgspec.Struct, frozen=True):
    matrix: matrix_mod.Matrix
    policy: policy_mod.Policy

    @classmethod
    def load(
        cls, matrix_files: Sequence[str | Path] = (), policy_file: str | Path | None = None
    ) -> Settings:
        """The built-in matrix plus ``matrix_files``, and the policy; ConfigError names
        what is wrong."""
        try:
            m = (
                matrix_mod.load([Path(p) for p in matrix_files])
                if matrix_files
                else matrix_mod.builtin()
            )
        except matrix_mod.MatrixError as exc:
            raise ConfigError(str(exc)) from None
        try:
            pol = policy_mod.load(policy_file) if policy_file else policy_mod.DEFAULT
        except policy_mod.PolicyError as exc:
            raise ConfigError(str(exc)) from None
        return cls(m, pol)

    @classmethod
    def default(cls) -> Settings:
        return cls(matrix_mod.builtin(), policy_mod.DEFAULT)
