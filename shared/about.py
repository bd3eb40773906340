"""What this build of ddcompat is (for ``--version``, SARIF and ``ddcompat_build_info``)."""

from __future__ import annotations

import functools


@functools.cache
def version() -> str:
    # importlib.metadata is imported here, not at the top: reading package metadata costs
    # start-up time that `check` and `matrix` only pay when they print the version.
    import importlib.metadata

    try:
        return importlib.metadata.version("ddcompat")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"
