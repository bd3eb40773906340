"""The Python a distribution installs: ``FROM ubuntu:24.04`` then ``apt-get install
python3`` is CPython 3.12. One row per release in ``data/distro-python.tsv``, each with the
distribution's package version and where it was read. A package that names its minor
(``python3.11``) says it itself; a distribution or release the table does not hold leaves
the Python unknown (never guessed)."""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path

from ddcompat.shared import signals

DATA = Path(__file__).resolve().parent.parent / "data" / "distro-python.tsv"
# a package manager installing packages, up to the end of its command
_INSTALL = re.compile(
    r"\b(?:apt-get|apt|apk|dnf|yum|microdnf|zypper)\b(?P<opts>[^;&|\n]*?)\b(?:install|add)\b"
    r"(?P<pkgs>[^;&|\n]*)"
)
_PYTHON_PKG = re.compile(r"^python(?P<minor>3(?:\.\d{1,2})?)(?:-[a-z0-9.+-]+)?(?:=\S*)?$")


@functools.cache
def _table() -> dict[tuple[str, str], str]:
    """(distribution, release word) -> Python minor; each release under every name."""
    out: dict[tuple[str, str], str] = {}
    with DATA.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            for word in row["release"].split():
                out[(row["distribution"], word)] = row["python"]
    return out


def installed_python(run: str) -> str | None:
    """``3.11`` when a RUN installs ``python3.11`` (or ``python3.11-venv``...); ``3`` when
    it installs the distribution's ``python3`` (``python3-pip`` brings it too); None when
    it installs no Python."""
    found: str | None = None
    for m in _INSTALL.finditer(run[:65536]):
        for pkg in m.group("pkgs").split():
            p = _PYTHON_PKG.match(pkg)
            if p is None:
                continue
            if p.group("minor") != "3":
                return p.group("minor")
            found = "3"
    return found


def distro_python(base: str | None) -> str | None:
    """The minor of ``python3`` on the distribution release ``base`` names, if known."""
    if not base or len(base) > signals.MAX_IMAGE:
        return None
    repo, tag = signals.split_image(base)[:2]
    name = repo.lower().rsplit("/", 1)[-1]
    if not tag:
        return None
    word = tag.lower().split("-", 1)[0]
    table = _table()
    hit = table.get((name, word))
    if hit is None and name == "debian":
        hit = table.get((name, word.split(".", 1)[0]))  # 12.5 -> 12
    return hit
