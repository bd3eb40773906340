"""Version ranges as intervals.

A workload's ddtrace version may be exact (``1.9.0``) or a range (``v1``, ``~=1.20``,
``>=1.9,<2``). The evaluator needs to know whether *every*, *no*, or only *some*
version of such a range meets a requirement, so ranges are turned into one closed or
half-open interval of :class:`packaging.version.Version`.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import msgspec
from packaging import version

if TYPE_CHECKING:
    from packaging import specifiers


class VersionSyntaxError(ValueError):
    """A version or version range that cannot be read."""


class Interval(msgspec.Struct, frozen=True, gc=False, cache_hash=True):
    """Versions ``v`` with ``lo <(=) v <(=) hi``; ``None`` bounds are unbounded."""

    lo: version.Version | None = None
    lo_closed: bool = True
    hi: version.Version | None = None
    hi_closed: bool = False

    @property
    def exact(self) -> version.Version | None:
        if self.lo is not None and self.lo == self.hi and self.lo_closed and self.hi_closed:
            return self.lo
        return None

    def is_empty(self) -> bool:
        if self.lo is None or self.hi is None:
            return False
        if self.lo > self.hi:
            return True
        return self.lo == self.hi and not (self.lo_closed and self.hi_closed)

    def intersect(self, other: Interval) -> Interval:
        lo, lo_closed = self.lo, self.lo_closed
        if other.lo is not None and (
            lo is None or other.lo > lo or (other.lo == lo and not other.lo_closed)
        ):
            lo, lo_closed = other.lo, other.lo_closed
        hi, hi_closed = self.hi, self.hi_closed
        if other.hi is not None and (
            hi is None or other.hi < hi or (other.hi == hi and not other.hi_closed)
        ):
            hi, hi_closed = other.hi, other.hi_closed
        return Interval(lo, lo_closed, hi, hi_closed)

    def within(self, other: Interval) -> bool:
        """True when every version of ``self`` lies in ``other``."""
        return self.intersect(other) == self.normalized()

    def overlaps(self, other: Interval) -> bool:
        return not self.intersect(other).is_empty()

    def normalized(self) -> Interval:
        # Unbounded sides keep a canonical flag so equality comparisons work.
        return Interval(
            self.lo,
            True if self.lo is None else self.lo_closed,
            self.hi,
            False if self.hi is None else self.hi_closed,
        )

    def __str__(self) -> str:
        if self.exact is not None:
            return str(self.exact)
        parts = []
        if self.lo is not None:
            parts.append((">=" if self.lo_closed else ">") + str(self.lo))
        if self.hi is not None:
            parts.append(("<=" if self.hi_closed else "<") + str(self.hi))
        return ",".join(parts) or "*"


EVERYTHING = Interval()


class Coverage(enum.Enum):
    """How much of a range meets a requirement."""

    ALL = "all"
    SOME = "some"
    NONE = "none"


@functools.lru_cache(maxsize=16384)
def coverage(observed: Interval, required: Interval) -> Coverage:
    if observed.within(required):
        return Coverage.ALL
    if observed.overlaps(required):
        return Coverage.SOME
    return Coverage.NONE


def coverage_any(observed: Interval, allowed: tuple[Interval, ...]) -> Coverage:
    """Coverage of ``observed`` by a union of intervals (treated one by one)."""
    result = Coverage.NONE
    for candidate in allowed:
        c = coverage(observed, candidate)
        if c is Coverage.ALL:
            return c
        if c is Coverage.SOME:
            result = c
    return result


def union_covers(observed: Interval, parts: Iterable[Interval]) -> bool:
    """True when every version of ``observed`` lies in one of ``parts`` (a release line
    split into rows: ``>=3,<3.16`` and ``>=3.16,<4`` together cover ``>=3,<4``)."""
    # sweep from observed's low end: each step takes a part that contains the start of
    # what is left uncovered and moves the start to that part's high end
    lo, lo_closed = observed.lo, observed.lo_closed if observed.lo is not None else True
    pending = sorted(
        (p for p in parts if p.overlaps(observed)),
        key=lambda p: (p.lo is not None, p.lo or _ZERO, not p.lo_closed),
    )
    for part in pending:
        starts_before = part.lo is None or (
            lo is not None
            and (part.lo < lo or (part.lo == lo and (part.lo_closed or not lo_closed)))
        )
        if not starts_before:
            return False  # a gap before this part
        if part.hi is None:
            return True
        if lo is not None and (
            part.hi < lo or (part.hi == lo and not (part.hi_closed and lo_closed))
        ):
            continue  # ends before the uncovered start
        if observed.hi is not None and (
            part.hi > observed.hi
            or (part.hi == observed.hi and (part.hi_closed or not observed.hi_closed))
        ):
            return True
        lo, lo_closed = part.hi, not part.hi_closed
    return False


_ZERO = version.Version("0")


def _next_release(release: tuple[int, ...]) -> version.Version:
    bumped = (*release[:-1], release[-1] + 1)
    return version.Version(".".join(str(p) for p in bumped))


# Versions come from annotations, labels and files anyone can write: bounded before any
# number in them is converted (Python refuses ints of more than 4,300 digits).
MAX_VERSION_TEXT = 256
_HUGE_NUMBER = re.compile(r"\d{19}")


def check_bounds(text: str) -> None:
    """VersionSyntaxError for a version text too long, or with a number too large."""
    if len(text) > MAX_VERSION_TEXT:
        raise VersionSyntaxError(
            f"version text too long ({len(text)} characters; at most {MAX_VERSION_TEXT})"
        )
    if _HUGE_NUMBER.search(text):
        raise VersionSyntaxError("a version number with more than 18 digits")


def _parse_version(text: str) -> version.Version:
    check_bounds(text)
    try:
        return version.Version(text)
    except version.InvalidVersion as exc:
        raise VersionSyntaxError(f"not a version: {text!r}") from exc


def _spec_interval(spec: specifiers.Specifier) -> Interval:
    op, raw = spec.operator, spec.version
    if raw.endswith(".*"):
        prefix = _parse_version(raw[:-2])
        upper = _next_release(prefix.release)
        if op == "==":
            return Interval(prefix, True, upper, False)
        # "!=X.*" removes a band; approximated by the whole line.
        return EVERYTHING
    v = _parse_version(raw)
    if op in ("==", "==="):
        return Interval(v, True, v, True)
    if op == ">=":
        return Interval(lo=v, lo_closed=True)
    if op == ">":
        return Interval(lo=v, lo_closed=False)
    if op == "<=":
        return Interval(hi=v, hi_closed=True)
    if op == "<":
        return Interval(hi=v, hi_closed=False)
    if op == "~=":
        release = v.release
        upper = _next_release(release[:-1])
        return Interval(v, True, upper, False)
    # "!=": a single excluded point does not change any threshold answer we give.
    return EVERYTHING


_VPREFIX = re.compile(r"^[vV](?=\d)")
_BARE = re.compile(r"^\d+(\.\d+){0,2}$")


# The ddtrace "version" of an image that installs ddtrace without a pin (the newest
# release at build time: unknown here).
UNPINNED = "unpinned"


@functools.lru_cache(maxsize=4096)
def parse_range(text: str, *, major_pin_is_range: bool = True) -> Interval:
    """Read ``2.6.1``, ``v2.6.1``, ``v1`` (any 1.x), ``~=1.20``, ``>=1.9,<2`` ...

    A bare version with fewer than three parts written with a ``v`` (``v1``,
    ``v2.6``) is a pin of that prefix, as Datadog library injection uses it. Without
    the ``v`` (``1.20``) it is read as the exact release ``1.20.0``.
    """
    s = text.strip()
    if not s:
        raise VersionSyntaxError("empty version")
    check_bounds(s)
    had_v = bool(_VPREFIX.match(s))
    s = _VPREFIX.sub("", s)
    if s in ("latest", "*"):
        return EVERYTHING
    if s[0].isdigit():
        if had_v and major_pin_is_range and _BARE.match(s) and s.count(".") < 2:
            prefix = _parse_version(s)
            return Interval(prefix, True, _next_release(prefix.release), False)
        v = _parse_version(s)
        return Interval(v, True, v, True)
    # Imported when a range is first written with operators: packaging.specifiers pulls in
    # packaging.tags (platform, logging, subprocess), a cost most starts never need.
    from packaging import specifiers

    try:
        spec_set = specifiers.SpecifierSet(s)
    except specifiers.InvalidSpecifier as exc:
        raise VersionSyntaxError(f"not a version or range: {text!r}") from exc
    result = EVERYTHING
    for spec in spec_set:
        result = result.intersect(_spec_interval(spec))
    if result.is_empty():
        raise VersionSyntaxError(f"range {text!r} contains no version")
    return result


@functools.lru_cache(maxsize=256)
def at_least(minimum: str) -> Interval:
    return Interval(lo=_parse_version(minimum), lo_closed=True)


@functools.lru_cache(maxsize=1024)
def python_minor(text: str) -> tuple[int, int] | None:
    """``3.11.4`` -> (3, 11); ``3`` or junk -> None."""
    m = re.match(r"^\s*(\d{1,4})\.(\d{1,4})(?:\.\d{1,9})?\s*$", text)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2))


def expand_python_versions(items: list[str]) -> frozenset[tuple[int, int]]:
    """``["2.7", "3.5-3.11"]`` -> {(2,7), (3,5), ..., (3,11)}."""
    out: set[tuple[int, int]] = set()
    for item in items:
        if "-" in item:
            first, last = (python_minor(p) for p in item.split("-", 1))
            if first is None or last is None or first[0] != last[0] or first > last:
                raise VersionSyntaxError(f"bad Python range {item!r}")
            out.update((first[0], minor) for minor in range(first[1], last[1] + 1))
        else:
            pm = python_minor(item)
            if pm is None:
                raise VersionSyntaxError(f"bad Python version {item!r}")
            out.add(pm)
    return frozenset(out)
