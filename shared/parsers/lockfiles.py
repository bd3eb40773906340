"""Pins of ddtrace and web frameworks read from requirements and lock files.

Read: ``requirements*.txt`` (and ``-r`` includes), ``constraints*.txt``, ``poetry.lock``,
``uv.lock``, ``pdm.lock`` (TOML ``[[package]]`` tables) and ``Pipfile.lock`` (JSON).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec

from ddcompat.shared import signals, versions
from ddcompat.shared.parsers import _common

LOCK_NAMES = ("poetry.lock", "uv.lock", "pdm.lock", "Pipfile.lock")
MAX_LOCK_BYTES = 32 << 20
_REQ_LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)(\[[^\]]*\])?\s*(.*)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class Pins(msgspec.Struct):
    """What the lock/requirements files of one build context pin."""

    ddtrace: str | None = None
    frameworks: dict[str, str] = msgspec.field(default_factory=dict)
    files: list[str] = msgspec.field(default_factory=list)

    def add(self, name: str, spec: str) -> None:
        name = canonical(name)
        if name == "ddtrace":
            if self.ddtrace is None:
                self.ddtrace = spec or versions.UNPINNED
        elif name in signals.WEB_FRAMEWORKS and name not in self.frameworks:
            self.frameworks[name] = spec

    def framework_facts(self) -> tuple[tuple[str, str], ...] | None:
        if not self.files:
            return None
        return tuple(sorted(self.frameworks.items()))


def _spec(rest: str) -> str:
    rest = rest.split(";", 1)[0].split(" #", 1)[0].strip()
    if rest.startswith("=="):
        return rest[2:].strip()
    return rest.replace(" ", "")


def read_requirements(path: Path, pins: Pins, seen: set[Path] | None = None) -> None:
    seen = seen if seen is not None else set()
    resolved = path.resolve()
    if resolved in seen or not path.is_file():
        return
    seen.add(resolved)
    pins.files.append(str(path))
    try:
        data = _common.read_regular(path, MAX_LOCK_BYTES)
    except OSError as exc:
        raise LockFileError(path, f"cannot read: {exc.strerror or exc}") from None
    for raw in data.decode("utf-8", errors="replace").splitlines():
        line = raw.split("#", 1)[0].strip() if raw.lstrip().startswith("#") else raw.strip()
        if not line:
            continue
        if line.startswith(("-r ", "-c ", "--requirement ", "--constraint ")):
            include = line.split(None, 1)[1].strip()
            if not include.startswith("/"):  # (a path on the build machine names nothing here)
                read_requirements(path.parent / include, pins, seen)
            continue
        if line.startswith("-"):
            continue
        m = _REQ_LINE.match(line)
        if m:
            pins.add(m.group(1), _spec(m.group(3)))


class LockFileError(ValueError):
    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path.name}: {message}")
        self.path = path


def read_any(path: Path, pins: Pins) -> None:
    """A lock file by its name, else a requirements file."""
    if path.name in LOCK_NAMES:
        read_lock(path, pins)
    else:
        read_requirements(path, pins)


def read_lock(path: Path, pins: Pins) -> None:
    try:
        _read_lock(path, pins)
    except (ValueError, AttributeError, TypeError, OSError) as exc:
        raise LockFileError(path, f"cannot read lock file: {exc}") from None


def _read_lock(path: Path, pins: Pins) -> None:
    text = _common.read_regular(path, MAX_LOCK_BYTES).decode("utf-8", errors="replace")
    pins.files.append(str(path))
    if path.name == "Pipfile.lock":
        data = json.loads(text)
        for section in ("default", "develop"):
            for name, info in (data.get(section) or {}).items():
                if isinstance(info, dict) and isinstance(info.get("version"), str):
                    pins.add(name, _spec(info["version"]))
        return
    import tomllib  # only TOML lock files need it (saves every other start the import)

    data_toml = tomllib.loads(text)
    for pkg in data_toml.get("package", []):
        if isinstance(pkg, dict) and isinstance(pkg.get("name"), str):
            pins.add(pkg["name"], str(pkg.get("version", "")))


def pins_beside(directory: Path, extra_requirements: list[str] | None = None) -> Pins:
    """Pins from the lock and requirements files in ``directory`` (locks first)."""
    pins = Pins()
    for name in LOCK_NAMES:
        p = directory / name
        if p.is_file():
            read_lock(p, pins)
    for name in extra_requirements or ():
        read_requirements(directory / name, pins)
    for p in sorted(directory.glob("requirements*.txt")):
        read_requirements(p, pins)
    return pins
