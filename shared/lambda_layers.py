"""Datadog's Python Lambda layers -> the ddtrace they carry.

The layer ``arn:aws:lambda:<region>:<account>:layer:Datadog-Python312[-ARM]:<N>`` is
datadog-lambda release ``X.N.0``. ``data/datadog-lambda-layers.tsv`` (written by ``make
facts`` from PyPI: ``ddcompat.shared.derive``) gives per layer the ddtrace requirement of
its wheel's METADATA (one per Python marker), the newest ddtrace that met it on the
layer's day, and the tracer the release notes say it bundles where they say it. The
ddtrace of a layer is the bundled one where stated, else the requirement capped at that
newest release: derived from the layer, not stated by the vendor (the report says so). A
layer newer than the newest the data knows is taken as that newest layer's requirement
allows, uncapped (the evaluator says the facts are older). Read on first use only.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import NamedTuple

from ddcompat.shared import versions

DATA = Path(__file__).parent / "data" / "datadog-lambda-layers.tsv"
# arn:...:layer:Datadog-Python312[-ARM]:127 (any account: Datadog publishes from several)
LAYER = re.compile(r":layer:Datadog-Python(\d)(\d{1,2})(-ARM)?(?::(\d{1,9}))?$")


class Choice(NamedTuple):
    marker: str  # PEP 508 environment marker ("" = every Python)
    specifier: str  # PEP 440 ("<4,>=3.19.1")
    newest: str  # the newest ddtrace meeting it on the layer's day ("" if none)


class Bundled(NamedTuple):
    python: str  # a Python range (">=3.10")
    ddtrace: str


class Layer(NamedTuple):
    layer_version: int
    choices: tuple[Choice, ...]
    bundled: tuple[Bundled, ...]


@functools.cache
def _table() -> dict[int, Layer]:
    import csv  # (imported when a Datadog layer is first seen: most runs never need it)
    import json

    out: dict[int, Layer] = {}
    with DATA.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            n = int(row["layer_version"])
            choices = tuple(
                Choice(c["marker"], c["specifier"], c["newest"] or "")
                for c in json.loads(row["ddtrace_requirement"] or "[]")
            )
            bundled = tuple(
                Bundled(b["python"], b["ddtrace"]) for b in json.loads(row["bundled"] or "[]")
            )
            out[n] = Layer(n, choices, bundled)
    return out


def newest_layer() -> int | None:
    table = _table()
    return max(table) if table else None


def _applies(marker: str, python: tuple[int, int] | None) -> bool | None:
    """Whether a marker holds for this Python (None: the Python is unknown)."""
    if not marker:
        return True
    if python is None:
        return None
    from packaging.markers import Marker  # only for layers with per-Python requirements

    text = f"{python[0]}.{python[1]}"
    return Marker(marker).evaluate({"python_version": text, "python_full_version": text + ".0"})


def _range(spec: str, cap: str) -> str | None:
    # a hole (!=4.6.*) cannot be an interval: left out (the range is then wider)
    parts = [p.strip() for p in spec.split(",") if p.strip() and not p.strip().startswith("!=")]
    if cap:
        parts.append(f"<={cap}")
    if not parts:
        return None
    return str(versions.parse_range(",".join(parts)))  # ("==0.36.0,<=0.36.0" -> "0.36.0")


def _requirement(layer: Layer, python: tuple[int, int] | None, capped: bool) -> str | None:
    if capped and layer.bundled:
        if python is not None:
            for b in layer.bundled:
                if python_matches(b.python, python):
                    return b.ddtrace
        else:
            from packaging.version import Version

            found = sorted({b.ddtrace for b in layer.bundled}, key=Version)
            if len(found) == 1:
                return found[0]
            return f">={found[0]},<={found[-1]}"
    applying = [c for c in layer.choices if _applies(c.marker, python) is not False]
    if python is not None:
        applying = applying[:1]
    ranges = [r for c in applying if (r := _range(c.specifier, c.newest if capped else ""))]
    if len(ranges) == 1:
        return ranges[0]
    if not ranges:
        return None
    # Python unknown: every choice is possible
    parsed = [versions.parse_range(r) for r in ranges]
    lows = [iv.lo for iv in parsed if iv.lo is not None]
    highs = [iv for iv in parsed if iv.hi is not None]
    low = f">={min(lows)}" if len(lows) == len(parsed) else ""
    high = ""
    if len(highs) == len(parsed):
        top = max(highs, key=lambda iv: (iv.hi, iv.hi_closed))
        high = f"{'<=' if top.hi_closed else '<'}{top.hi}"
    return ",".join(p for p in (low, high) if p) or None


def python_matches(spec: str, python: tuple[int, int]) -> bool:
    iv = versions.parse_range(spec)
    return (
        versions.coverage(versions.parse_range(f"{python[0]}.{python[1]}"), iv)
        is not versions.Coverage.NONE
    )


def arn(runtime: str, arm: bool, version: int, region: str = "${AWS::Region}") -> str:
    """The ARN of the Datadog Python layer for a Lambda runtime (``python3.12``) at a
    version, as Datadog's tooling adds it (account 464622532012)."""
    name = "Datadog-Python" + runtime.removeprefix("python").replace(".", "")
    return f"arn:aws:lambda:{region}:464622532012:layer:{name}{'-ARM' if arm else ''}:{version}"


def version_of(arn: str) -> int | None:
    """The layer version (datadog-lambda release) of a Datadog Python layer ARN."""
    m = LAYER.search(arn.strip())
    return int(m.group(4)) if m is not None and m.group(4) is not None else None


def ddtrace_of(arn: str, python: str | None = None) -> str | None:
    """The ddtrace version or range a Datadog Python layer carries, or None."""
    n = version_of(arn)
    if n is None:
        return None
    return ddtrace_of_layer(n, python)


def layer_versions() -> tuple[int, ...]:
    """Every Datadog Python layer version the data knows, oldest first."""
    return tuple(sorted(_table()))


def ddtrace_of_layer(n: int, python: str | None = None) -> str | None:
    """The ddtrace version or range layer version ``n`` carries, or None."""
    table = _table()
    layer = table.get(n)
    capped = True
    if layer is None:
        newest = newest_layer()
        if newest is None or n < newest:
            return None
        layer, capped = table[newest], False  # newer than the facts: its line's rows judge
    pm = versions.python_minor(python) if python else None
    return _requirement(layer, pm, capped)
