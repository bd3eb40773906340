"""PyPI's simple index (PEP 691 JSON) read for a project, and the snapshot kept of it.

A snapshot holds what the generator uses of the index, and nothing else: per file of a
final release its name, ``requires-python``, ``upload-time`` and ``yanked``; for the
projects whose wheels' METADATA is read (datadog-lambda), the fields used of it. Written
deterministically (sorted, gzip without a timestamp) so that a refresh that finds nothing
new changes no byte.
"""

from __future__ import annotations

import datetime
import email.parser
import gzip
import io
import json
import os
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypedDict

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

DEFAULT_INDEX = "https://pypi.org/simple/"
ACCEPT = "application/vnd.pypi.simple.v1+json"
MAX_INDEX_BYTES = 96 << 20  # ddtrace's page is ~21 MB (46,724 files in 2026-12)
MAX_WHEEL_BYTES = 16 << 20  # a datadog-lambda wheel is ~60 kB
TIMEOUT = 60.0
# the METADATA fields the generator reads
METADATA_FIELDS = ("Requires-Python", "Requires-Dist")


class SnapshotFile(TypedDict):
    filename: str
    requires_python: str | None
    upload_time: str
    yanked: bool | str


class Snapshot(TypedDict):
    project: str
    index: str
    read: str  # the day the index was read (ISO)
    files: list[SnapshotFile]
    # wheel filename -> METADATA field -> values (only the fields and lines used)
    metadata: dict[str, dict[str, list[str]]]


class IndexError_(RuntimeError):
    """The index could not be read or said something unusable (the message says which)."""


def index_url() -> str:
    """The index to read: ``PIP_INDEX_URL`` as pip itself would, else PyPI."""
    return os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX


def version_of(filename: str) -> Version | None:
    """The release a file belongs to (None for names that are neither wheel nor sdist)."""
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def is_final(v: Version) -> bool:
    return not (v.is_prerelease or v.is_devrelease)


def _get(url: str, accept: str | None, limit: int) -> bytes:
    if not url.startswith("https://") and not url.startswith("http://127.0.0.1"):
        raise IndexError_(f"{url}: refusing a non-HTTPS index")
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            body: bytes = resp.read(limit + 1)
    except OSError as exc:
        raise IndexError_(f"{url}: {exc}") from None
    if len(body) > limit:
        raise IndexError_(f"{url}: larger than {limit} bytes")
    return body


def read_project(project: str, index: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The project page's files (absolute URLs), as the index gives them."""
    base = index or index_url()
    url = urllib.parse.urljoin(base if base.endswith("/") else base + "/", f"{project}/")
    try:
        page = json.loads(_get(url, ACCEPT, MAX_INDEX_BYTES))
    except ValueError as exc:
        raise IndexError_(f"{url}: not the JSON simple API: {exc}") from None
    files = page.get("files") if isinstance(page, dict) else None
    if not isinstance(files, list):
        raise IndexError_(f"{url}: no 'files' list")
    for f in files:
        if isinstance(f, dict) and isinstance(f.get("url"), str):
            f["url"] = urllib.parse.urljoin(url, f["url"])
    return base, [f for f in files if isinstance(f, dict)]


def trim(files: Iterable[dict[str, Any]]) -> list[SnapshotFile]:
    """The files of final releases, with the fields the generator reads, sorted."""
    out: list[SnapshotFile] = []
    for f in files:
        name = f.get("filename")
        if not isinstance(name, str):
            continue
        v = version_of(name)
        if v is None or not is_final(v):
            continue
        yanked = f.get("yanked", False)
        out.append(
            SnapshotFile(
                filename=name,
                requires_python=f.get("requires-python") or None,
                upload_time=str(f.get("upload-time") or ""),
                yanked=yanked if isinstance(yanked, (bool, str)) else bool(yanked),
            )
        )
    out.sort(key=lambda f: (f["filename"], f["upload_time"]))
    return out


def wheel_metadata(
    url: str, wanted: tuple[str, ...], keep: str | None = None
) -> dict[str, list[str]]:
    """Fields of a wheel's ``*.dist-info/METADATA`` (the whole wheel is read: the index
    serves no separate metadata file for these projects); ``keep``: only the
    ``Requires-Dist`` lines naming that project."""
    blob = _get(url, None, MAX_WHEEL_BYTES)
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            names = [
                n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(names) != 1:
                raise IndexError_(f"{url}: {len(names)} METADATA files in the wheel")
            info = zf.getinfo(names[0])
            if info.file_size > 1 << 20:
                raise IndexError_(f"{url}: METADATA larger than 1 MiB")
            text = zf.read(info).decode("utf-8", "replace")
    except zipfile.BadZipFile as exc:
        raise IndexError_(f"{url}: not a wheel: {exc}") from None
    return parse_metadata(text, wanted, keep)


def parse_metadata(text: str, wanted: tuple[str, ...], keep: str | None) -> dict[str, list[str]]:
    msg = email.parser.HeaderParser().parsestr(text)
    out: dict[str, list[str]] = {}
    for field in wanted:
        values = [str(v).strip() for v in msg.get_all(field) or ()]
        if field == "Requires-Dist" and keep is not None:
            values = [v for v in values if _names(v, keep)]
        out[field] = values
    return out


def _names(requirement: str, project: str) -> bool:
    """Whether a Requires-Dist line names ``project`` (by its canonical name)."""
    try:
        return canonicalize_name(Requirement(requirement).name) == canonicalize_name(project)
    except InvalidRequirement:
        return False


def today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


# --- the snapshot on disk -------------------------------------------------------------


def snapshot_path(directory: Path, project: str) -> Path:
    return directory / f"{project}.json.gz"


def save(directory: Path, snap: Snapshot) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = snapshot_path(directory, snap["project"])
    text = json.dumps(snap, indent=0, sort_keys=True, ensure_ascii=False) + "\n"
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    path.write_bytes(buf.getvalue())
    return path


def load(directory: Path, project: str) -> Snapshot:
    path = snapshot_path(directory, project)
    try:
        data = json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, ValueError, EOFError) as exc:
        raise IndexError_(f"{path}: cannot read the snapshot: {exc}") from None
    if not isinstance(data, dict) or data.get("project") != project:
        raise IndexError_(f"{path}: not a snapshot of {project}")
    return data  # type: ignore[return-value]


def refresh(
    directory: Path,
    project: str,
    *,
    metadata_of: str | None = None,
    index: str | None = None,
    progress: Any = None,
) -> Snapshot:
    """Read the index again and save the snapshot. ``metadata_of``: read the METADATA of
    one wheel per release (the newest uploaded), keeping the ``Requires-Dist`` lines that
    name that project; releases whose METADATA the old snapshot holds are not read again
    (a file on PyPI never changes)."""
    base, files = read_project(project, index)
    trimmed = trim(files)
    metadata: dict[str, dict[str, list[str]]] = {}
    if metadata_of is not None:
        try:
            old = load(directory, project).get("metadata", {})
        except IndexError_:
            old = {}
        urls = {f["filename"]: f["url"] for f in files if isinstance(f.get("url"), str)}
        for name in _one_wheel_per_release(trimmed):
            if name in old:
                metadata[name] = old[name]
                continue
            if progress is not None:
                progress(f"reading {name} METADATA")
            metadata[name] = wheel_metadata(urls[name], METADATA_FIELDS, metadata_of)
    snap = Snapshot(project=project, index=base, read=today(), files=trimmed, metadata=metadata)
    save(directory, snap)
    return snap


def _one_wheel_per_release(files: list[SnapshotFile]) -> list[str]:
    """Per release, the wheel uploaded last (py3 over py2 where a release has both)."""
    best: dict[Version, SnapshotFile] = {}
    for f in files:
        if not f["filename"].endswith(".whl"):
            continue
        v = version_of(f["filename"])
        if v is None:
            continue
        cur = best.get(v)
        if cur is None or (f["upload_time"], f["filename"]) > (cur["upload_time"], cur["filename"]):
            best[v] = f
    return [best[v]["filename"] for v in sorted(best)]


def metadata_wheel(snap: Snapshot, v: Version) -> str | None:
    """The wheel of release ``v`` whose METADATA the snapshot holds."""
    for name in _one_wheel_per_release(
        [f for f in snap["files"] if version_of(f["filename"]) == v]
    ):
        return name if name in snap["metadata"] else None
    return None
