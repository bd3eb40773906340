"""Helm charts found in directory walks, rendered with the real ``helm template``.

A chart's ``templates/`` are Go templates, not manifests: a walk skips them (and a
chart's bundled ``charts/``), and with ``--helm-render`` the chart is rendered by the
``helm`` binary and its output read instead, each document named by the template it
came from (helm's ``# Source:`` lines).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

CHART_FILE = "Chart.yaml"
# What a rendered chart may print (bounded like any other input).
MAX_OUTPUT = 64 << 20
TIMEOUT_S = 120
_SOURCE = re.compile(r"^# Source: (.+)$", re.M)


class HelmError(Exception):
    """helm could not render a chart (not installed, a failing template, missing deps)."""


class Rendered(NamedTuple):
    source: str  # <chart dir>/templates/x.yaml (rendered)
    text: str


def helm_binary(explicit: str | None = None) -> str:
    """The helm to run: ``--helm``, ``$DDCOMPAT_HELM``, or ``helm`` on PATH."""
    import shutil  # (imported when a chart is rendered: most walks never do)

    found = explicit or os.environ.get("DDCOMPAT_HELM") or shutil.which("helm")
    if not found:
        raise HelmError(
            "--helm-render needs the helm binary: install helm "
            "(https://helm.sh/docs/intro/install/) or pass --helm PATH"
        )
    return found


def render(chart: Path, helm: str, *, release: str = "ddcompat") -> list[Rendered]:
    """The documents of ``helm template`` of a chart, each with the template it came from."""
    import subprocess

    try:
        done = subprocess.run(
            [helm, "template", release, str(chart)],
            capture_output=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise HelmError(f"helm not found at {helm}: install helm or pass --helm PATH") from None
    except subprocess.TimeoutExpired:
        raise HelmError(f"helm template did not finish in {TIMEOUT_S} s") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise HelmError("helm template failed: " + " ".join(lines[-3:]))
    out = done.stdout[:MAX_OUTPUT].decode("utf-8", "replace")
    return split(out, chart)


def split(output: str, chart: Path) -> list[Rendered]:
    """helm's output cut at its ``# Source: <chart>/templates/x.yaml`` lines."""
    marks = list(_SOURCE.finditer(output))
    if not marks:
        return [Rendered(f"{chart} (rendered)", output)] if output.strip() else []
    out: list[Rendered] = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(output)
        # the "---" that helm prints before the next Source belongs to that document
        text = output[m.start() : end]
        template = m.group(1).strip().split("/", 1)[-1]
        out.append(Rendered(f"{chart / template} (rendered)", text))
    return out
