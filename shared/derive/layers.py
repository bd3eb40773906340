"""Datadog's Python Lambda layers, from datadog-lambda's releases on PyPI.

Layer ``N`` (``...:layer:Datadog-Python312:N``) is datadog-lambda release ``X.N.0``. For
each: the ddtrace requirement its wheel's METADATA declares (one per Python marker), the
newest ddtrace release that met it on the layer's day (what a build that day installed:
derived, not stated), and, where the release notes say it, the tracer the layer bundles.
Releases tagged but never uploaded to PyPI (115, 117, 119) come from a hand-read table
naming each tag's file (``shared/data/lambda-layers-not-on-pypi.tsv``); the release notes'
statements from ``shared/data/lambda-release-notes.tsv``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ddcompat.shared.derive import pypi
from ddcompat.shared.derive.wheels import DeriveError, Release

HEADER = (
    "layer_version",
    "datadog_lambda_version",
    "released",
    "python_requirement",
    "ddtrace_requirement",
    "bundled",
    "source",
)


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _newest(spec: SpecifierSet, day: str, ddtrace: list[Release]) -> str | None:
    met = [
        r.version
        for r in ddtrace
        if r.uploaded <= day and r.yanked != "yes" and spec.contains(r.version)
    ]
    return str(max(met)) if met else None


def _choices(
    lines: list[str], day: str, ddtrace: list[Release], where: str
) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            raise DeriveError(f"{where}: Requires-Dist {line!r}: {exc}") from None
        out.append(
            {
                "specifier": str(req.specifier),
                "marker": str(req.marker) if req.marker is not None else "",
                "newest": _newest(req.specifier, day, ddtrace),
            }
        )
    return out


def layers(
    snap: pypi.Snapshot, ddtrace: list[Release], not_on_pypi: Path, release_notes: Path
) -> list[dict[str, str]]:
    rows: dict[int, dict[str, str]] = {}
    uploaded: dict[Version, str] = {}
    for f in snap["files"]:
        v = pypi.version_of(f["filename"])
        if v is not None:
            day = f["upload_time"][:10]
            uploaded[v] = min(uploaded.get(v, day), day)
    for v in sorted(uploaded):
        if v.micro != 0 or len(v.release) != 3:
            raise DeriveError(f"datadog-lambda {v}: not of the form X.N.0 (layer N)")
        wheel = pypi.metadata_wheel(snap, v)
        if wheel is None:
            raise DeriveError(f"datadog-lambda {v}: no wheel METADATA in the snapshot")
        meta = snap["metadata"][wheel]
        day = uploaded[v]
        rows[v.minor] = {
            "layer_version": str(v.minor),
            "datadog_lambda_version": str(v),
            "released": day,
            "python_requirement": (meta.get("Requires-Python") or [""])[0],
            "ddtrace_requirement": json.dumps(
                _choices(meta.get("Requires-Dist", []), day, ddtrace, wheel), sort_keys=True
            ),
            "bundled": "",
            "source": (
                f"pypi: datadog-lambda {v} ({wheel} METADATA; simple index read {snap['read']})"
            ),
        }
    for row in _read_tsv(not_on_pypi):
        n = int(row["layer_version"])
        if n in rows:
            raise DeriveError(f"{not_on_pypi}: layer {n} is on PyPI now: remove its row")
        reqs = [f"ddtrace{row['ddtrace_requirement']}"] if row["ddtrace_requirement"] else []
        rows[n] = {
            "layer_version": str(n),
            "datadog_lambda_version": row["datadog_lambda_version"],
            "released": row["released"],
            "python_requirement": row["python_requirement"],
            "ddtrace_requirement": json.dumps(
                _choices(reqs, row["released"], ddtrace, str(not_on_pypi)), sort_keys=True
            ),
            "bundled": "",
            "source": row["source"],
        }
    bundled: dict[int, list[dict[str, str]]] = {}
    for row in _read_tsv(release_notes):
        n = int(row["layer_version"])
        if n not in rows:
            raise DeriveError(f"{release_notes}: layer {n} is not a known release")
        bundled.setdefault(n, []).append(
            {"python": row["python"], "ddtrace": row["ddtrace"], "source": row["source"]}
        )
    for n, items in bundled.items():
        rows[n]["bundled"] = json.dumps(items, sort_keys=True)
    return [rows[n] for n in sorted(rows)]


def layers_tsv(rows: list[dict[str, str]]) -> str:
    lines = ["\t".join(HEADER)]
    lines.extend("\t".join(row[h] for h in HEADER) for row in rows)
    return "\n".join(lines) + "\n"
