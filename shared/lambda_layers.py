"""Datadog's Python Lambda layers -> the ddtrace they carry.

The layer ``arn:aws:lambda:<region>:<account>:layer:Datadog-Python312[-ARM]:<N>`` is
datadog-lambda-python release ``vX.N.0`` (older layers: tag ``vN``), built from that
release's ``ddtrace`` requirement. ``data/datadog-lambda-layers.tsv`` (a copy of
``shared/facts/datadog-lambda-layers.tsv``, read from each tag's pyproject.toml/setup.py)
gives the requirement and the newest ddtrace release on or before the layer's date. The
ddtrace of a layer is the requirement capped at that release: derived from the layer, not
stated by the vendor (the report says so). Read on first use only.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from ddcompat.shared import versions

DATA = Path(__file__).parent / "data" / "datadog-lambda-layers.tsv"
# arn:...:layer:Datadog-Python312[-ARM]:127 (any account: Datadog publishes from several)
LAYER = re.compile(r":layer:Datadog-Python(\d)(\d{1,2})(-ARM)?(?::(\d{1,9}))?$")
_CARET = re.compile(r"^\^(\d+)\.(\d+)(?:\.(\d+))?$")


class Layer:
    __slots__ = ("layer_version", "newest", "python", "requirement", "tag")

    def __init__(
        self, layer_version: int, tag: str, requirement: str, python: str, newest: str
    ) -> None:
        self.layer_version = layer_version
        self.tag = tag
        self.requirement = requirement
        self.python = python
        self.newest = newest


@functools.cache
def _table() -> dict[int, Layer]:
    import csv  # (imported when a Datadog layer is first seen: most runs never need it)

    out: dict[int, Layer] = {}
    with DATA.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            out[int(row["layer_version"])] = Layer(
                int(row["layer_version"]),
                row["tag"],
                row["ddtrace_requirement"],
                row["python_requirement"],
                row["ddtrace_newest_at_tag_date"],
            )
    return out


def _pep440(poetry: str) -> str | None:
    """A poetry-style requirement as a range ddcompat reads; None if unusable."""
    text = poetry.strip().removeprefix("ddtrace")
    if not text:
        return None
    m = _CARET.match(text)
    if m:
        major, minor, patch = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        upper = f"{major + 1}.0.0" if major else f"0.{minor + 1}.0"
        return f">={major}.{minor}.{patch},<{upper}"
    if text[0].isdigit():
        return f"=={text}"
    # a hole (!=4.6.*) cannot be an interval: left out (the range is then wider)
    return ",".join(p for p in (s.strip() for s in text.split(",")) if not p.startswith("!="))


def _requirement(layer: Layer, python: tuple[int, int] | None) -> str | None:
    raw = layer.requirement
    if not raw.startswith("["):
        return _pep440(raw)
    import json

    choices = json.loads(raw)  # python-dependent constraints
    if python is not None:
        for choice in choices:
            if python_matches(choice["python"], python):
                return _pep440(choice["version"])
        return None
    # Python unknown: every choice is possible
    ranges = [versions.parse_range(r) for c in choices if (r := _pep440(c["version"]))]
    lows = [r.lo for r in ranges if r.lo is not None]
    highs = [r.hi for r in ranges]
    low = f">={min(lows)}" if lows else ""
    high = f"<{max(h for h in highs if h is not None)}" if all(highs) and highs else ""
    return ",".join(p for p in (low, high) if p) or None


def python_matches(spec: str, python: tuple[int, int]) -> bool:
    iv = versions.parse_range(spec)
    return (
        versions.coverage(versions.parse_range(f"{python[0]}.{python[1]}"), iv)
        is not versions.Coverage.NONE
    )


def version_of(arn: str) -> int | None:
    """The layer version (datadog-lambda release) of a Datadog Python layer ARN."""
    m = LAYER.search(arn.strip())
    return int(m.group(4)) if m is not None and m.group(4) is not None else None


def ddtrace_of(arn: str, python: str | None = None) -> str | None:
    """The ddtrace version or range a Datadog Python layer carries, or None."""
    m = LAYER.search(arn.strip())
    if m is None or m.group(4) is None:
        return None
    layer = _table().get(int(m.group(4)))
    if layer is None:
        return None
    pm = versions.python_minor(python) if python else None
    required = _requirement(layer, pm)
    newest = layer.newest.strip()
    if not required:
        return f"<={newest}" if newest else None
    if newest:
        return f"{required},<={newest}"
    return required
