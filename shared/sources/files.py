"""Descriptor files and directories: the source of ``check`` and ``scanner --path``.

``collect(paths)`` walks directories and reads each candidate file through the parsers
(:func:`ddcompat.shared.parsers.parse_file`). One file's problem never stops the others
from being reported. In a directory walk, YAML/JSON files that are no deployment
descriptor (a Helm ``values.yaml``, a ``package.json``) are ignored and listed as such;
a file named explicitly on the command line must be a descriptor.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ddcompat.shared import model, parsers
from ddcompat.shared.parsers import compose, dockerfile, kubernetes

SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox"}
)


def _candidate(name: str) -> bool:
    return name.lower().endswith(parsers.DATA_SUFFIXES) or dockerfile.is_dockerfile_name(name)


def walk(root: str | Path, excludes: Iterable[str] = ()) -> Iterator[str]:
    """Candidate files under ``root``, in a stable order (paths as strings: a fleet can
    hold tens of thousands of files, and Path objects cost more than reading some)."""
    patterns = tuple(excludes)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for fname in sorted(filenames):
            if not _candidate(fname):
                continue
            p = os.path.join(dirpath, fname)
            if patterns:
                rel = os.path.relpath(p, root)
                if any(
                    fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(fname, pat) for pat in patterns
                ):
                    continue
            yield p


def collect(
    paths: Iterable[str | Path],
    excludes: Iterable[str] = (),
    *,
    reader: kubernetes.Reader | None = None,
    compose_options: compose.Options = compose.DEFAULT_OPTIONS,
) -> model.ParseResult:
    """Every descriptor under ``paths``; ``reader`` (its caches) is the caller's, or one
    made for this call."""
    out = model.ParseResult()
    if reader is None:
        reader = kubernetes.Reader()
    excludes = tuple(excludes)
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in walk(p, excludes):
                out.extend(
                    parsers.parse_file(
                        f, f, explicit=False, reader=reader, compose_options=compose_options
                    )
                )
        elif p.exists():
            out.extend(
                parsers.parse_file(
                    p, str(raw), explicit=True, reader=reader, compose_options=compose_options
                )
            )
        else:
            out.errors.append(model.InputError(str(raw), "no such file or directory"))
    if out.built_dockerfiles:
        # A Dockerfile that a compose service builds is reported through that service
        # (with the build args the service gives it).
        built = out.built_dockerfiles

        def standalone(source: str) -> bool:
            return str(Path(source).resolve()) not in built

        out.workloads = [w for w in out.workloads if w.kind != "Dockerfile" or standalone(w.source)]
        out.warnings = [w for w in out.warnings if standalone(w.source)]
        out.not_python = [
            n for n in out.not_python if n.kind != "Dockerfile" or standalone(n.source)
        ]
    return out
