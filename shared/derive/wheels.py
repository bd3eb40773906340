"""ddtrace's releases and runtime rows, from the files PyPI publishes.

A runtime row says: for these ddtrace releases, CPython ``python`` on ``os``/``arch`` has
a wheel. Each release's wheels give the set of (OS, architecture, Python) it supports;
consecutive releases of one line with the same set share rows, whose ``ddtrace`` range
runs to the next release (the newest of a line runs to the end of the line, so a release
newer than the facts is judged by its line's rows).
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import parse_wheel_filename
from packaging.version import Version

from ddcompat.shared.derive import pypi


class DeriveError(ValueError):
    """Metadata the derivation does not know how to read: a human decides, then the code."""


class Release(NamedTuple):
    version: Version
    uploaded: str  # first upload (ISO date)
    requires_python: str  # as the files say ("" when none does)
    yanked: str  # "no", "yes" (every file), "partly"
    wheels: int
    # (os, arch, (major, minor)) with a wheel Requires-Python allows
    supported: frozenset[tuple[str, str, tuple[int, int]]]
    # wheel arch/platform words seen, per (os, arch), for the rows' `cpu`
    words: dict[tuple[str, str], frozenset[str]]


# a wheel's platform tag -> (os, [(arch, word)]): the words name what the wheel was built for
_LINUX = re.compile(r"^(manylinux_\d+_\d+|musllinux_\d+_\d+|manylinux\d*|linux)_(.+)$")
_MAC = re.compile(r"^macosx_\d+_\d+_(.+)$")
_LINUX_ARCH = {"x86_64": "amd64", "i686": "386", "aarch64": "arm64"}
_MAC_ARCH = {
    "x86_64": ("amd64",),
    "arm64": ("arm64",),
    "universal2": ("amd64", "arm64"),
    "intel": ("amd64", "386"),
    "universal": ("amd64", "386"),
}
_WINDOWS = {"win_amd64": "amd64", "win32": "386", "win_arm64": "arm64"}
_CP = re.compile(r"^cp(\d)(\d+)$")


def platform_of(tag: str) -> tuple[str, list[tuple[str, str]]]:
    if tag in _WINDOWS:
        return "windows", [(_WINDOWS[tag], f"windows:{tag}")]
    m = _LINUX.match(tag)
    if m:
        arch = _LINUX_ARCH.get(m.group(2))
        if arch is None:
            raise DeriveError(f"platform tag {tag!r}: an architecture the matrix has no name for")
        family = "musllinux" if m.group(1).startswith("musl") else "manylinux"
        return "linux", [(arch, f"{family}:{m.group(2)}")]
    m = _MAC.match(tag)
    if m and m.group(1) in _MAC_ARCH:
        return "darwin", [(a, f"macosx:{m.group(1)}") for a in _MAC_ARCH[m.group(1)]]
    raise DeriveError(f"platform tag {tag!r}: not a platform the matrix knows")


def _python(interpreter: str, abi: str) -> tuple[int, int] | None:
    """The CPython a wheel is for; None for a free-threaded build (refused later)."""
    m = _CP.match(interpreter)
    if m is None:
        raise DeriveError(f"interpreter tag {interpreter!r}: only CPython wheels are expected")
    if abi.endswith("t"):
        return None
    if not (abi == interpreter or abi in (interpreter + "m", interpreter + "mu")):
        raise DeriveError(f"ABI tag {abi!r} on {interpreter}: not a version-specific CPython ABI")
    return int(m.group(1)), int(m.group(2))


@functools.lru_cache(maxsize=4096)
def _allows(requires_python: str | None, py: tuple[int, int]) -> bool:
    if not requires_python:
        return True
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return True  # unreadable: pip would not filter on it either
    return spec.contains(f"{py[0]}.{py[1]}", prereleases=True)


def _wheel(
    f: pypi.SnapshotFile,
    supported: set[tuple[str, str, tuple[int, int]]],
    words: dict[tuple[str, str], set[str]],
) -> None:
    """Add what one wheel supports."""
    for tag in parse_wheel_filename(f["filename"])[3]:
        py = _python(tag.interpreter, tag.abi)
        if py is None:
            raise DeriveError(
                "a free-threaded wheel; the matrix has no rows for free-threaded Pythons "
                "yet (add them before deriving)"
            )
        if not _allows(f["requires_python"], py):
            continue  # (cp315 under <3.15: pip never installs it)
        os_, arches = platform_of(tag.platform)
        for arch, word in arches:
            supported.add((os_, arch, py))
            words[(os_, arch)].add(word)


def releases(files: Iterable[pypi.SnapshotFile]) -> list[Release]:
    by_version: dict[Version, list[pypi.SnapshotFile]] = defaultdict(list)
    for f in files:
        v = pypi.version_of(f["filename"])
        if v is not None and pypi.is_final(v):
            by_version[v].append(f)
    out = []
    for v in sorted(by_version):
        fs = by_version[v]
        supported: set[tuple[str, str, tuple[int, int]]] = set()
        words: dict[tuple[str, str], set[str]] = defaultdict(set)
        wheels = 0
        for f in fs:
            if not f["filename"].endswith(".whl"):
                continue
            wheels += 1
            try:
                _wheel(f, supported, words)
            except DeriveError as exc:
                raise DeriveError(f"{f['filename']}: {exc}") from None
        yanked = [bool(f["yanked"]) for f in fs]
        requires = sorted({f["requires_python"] or "" for f in fs} - {""})
        out.append(
            Release(
                version=v,
                uploaded=min(f["upload_time"] for f in fs)[:10],
                requires_python=" | ".join(requires),
                yanked="yes" if all(yanked) else ("partly" if any(yanked) else "no"),
                wheels=wheels,
                supported=frozenset(supported),
                words={k: frozenset(w) for k, w in words.items()},
            )
        )
    return out


def python_ranges(pythons: Iterable[tuple[int, int]]) -> list[str]:
    """{(3,7),(3,8),(3,9),(2,7)} -> ["2.7", "3.7-3.9"]."""
    out: list[str] = []
    run: list[tuple[int, int]] = []
    for py in sorted(set(pythons)):
        if run and py == (run[-1][0], run[-1][1] + 1):
            run.append(py)
            continue
        if run:
            out.append(_run(run))
        run = [py]
    if run:
        out.append(_run(run))
    return out


def _run(run: list[tuple[int, int]]) -> str:
    a, b = run[0], run[-1]
    return f"{a[0]}.{a[1]}" if a == b else f"{a[0]}.{a[1]}-{b[0]}.{b[1]}"


_OS_ORDER = ("linux", "darwin", "windows")
_ARCH_ORDER = ("amd64", "386", "arm64")


def _rows_of(r: Release) -> tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]:
    """A release's rows: per OS, the architectures that share one set of Pythons."""
    per: dict[tuple[str, str], set[tuple[int, int]]] = defaultdict(set)
    for os_, arch, py in r.supported:
        per[(os_, arch)].add(py)
    rows = []
    for os_ in _OS_ORDER:
        by_pythons: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for arch in _ARCH_ORDER:
            if (os_, arch) in per:
                by_pythons[tuple(python_ranges(per[(os_, arch)]))].append(arch)
        for pythons, arches in sorted(
            by_pythons.items(), key=lambda kv: _ARCH_ORDER.index(kv[1][0])
        ):
            rows.append((os_, tuple(arches), pythons))
    return tuple(rows)


def runtime_rows(rels: list[Release], read: str) -> list[dict[str, Any]]:
    """Rows for runs of releases of one line with the same wheel set (releases without a
    wheel have none); each names the releases and the index it came from."""
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(rels):
        rows = _rows_of(rels[i])
        j = i
        while (
            j + 1 < len(rels)
            and rels[j + 1].version.major == rels[i].version.major
            and _rows_of(rels[j + 1]) == rows
        ):
            j += 1
        first, last = rels[i], rels[j]
        nxt = rels[j + 1].version if j + 1 < len(rels) else None
        upper = (
            str(nxt)
            if nxt is not None and nxt.major == first.version.major
            else str(first.version.major + 1)
        )
        span = f"{first.version}" if i == j else f"{first.version} to {last.version}"
        for os_, arches, pythons in rows:
            words = sorted(
                {w for r in rels[i : j + 1] for a in arches for w in r.words.get((os_, a), ())}
            )
            out.append(
                {
                    "os": os_,
                    "arch": list(arches),
                    "cpu": _cpu(words),
                    "runtime": "cpython",
                    "python": list(pythons),
                    "ddtrace": f">={first.version},<{upper}",
                    "source": f"pypi: ddtrace {span} wheels (simple index read {read})",
                }
            )
        i = j + 1
    return out


def _cpu(words: list[str]) -> str:
    """["manylinux:aarch64", "musllinux:aarch64"] -> "manylinux aarch64; musllinux aarch64"."""
    families: dict[str, list[str]] = defaultdict(list)
    for w in words:
        family, arch = w.split(":", 1)
        families[family].append(arch)
    return "; ".join(f"{f} {', '.join(sorted(a))}" for f, a in sorted(families.items()))


def newest_per_line(rels: list[Release]) -> dict[str, str]:
    """major -> the newest release that is not yanked."""
    out: dict[str, Version] = {}
    for r in rels:
        if r.yanked != "yes":
            key = str(r.version.major)
            if key not in out or r.version > out[key]:
                out[key] = r.version
    return {k: str(v) for k, v in sorted(out.items(), key=lambda kv: int(kv[0]))}


RELEASES_HEADER = ("version", "uploaded", "requires_python", "yanked", "wheels", "source")


def releases_tsv(rels: list[Release], read: str) -> str:
    lines = ["\t".join(RELEASES_HEADER)]
    for r in rels:
        lines.append(
            "\t".join(
                (
                    str(r.version),
                    r.uploaded,
                    r.requires_python,
                    r.yanked,
                    str(r.wheels),
                    f"pypi: ddtrace {r.version} files (simple index read {read})",
                )
            )
        )
    return "\n".join(lines) + "\n"
