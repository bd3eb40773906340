"""What an image's layers say, read top-down as streams (never written to disk): the
``*.dist-info`` (and ``*.egg-info``) directories of ``ddtrace`` and the web frameworks, and
the ``pythonX.Y`` directory of the interpreter. Whiteouts of upper layers hide what lower
layers hold (``.wh.<name>``, and ``.wh..wh..opq`` for a whole directory). The walk stops
after the layer in which ddtrace and Python are both known.
"""

from __future__ import annotations

import re
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Any, NamedTuple

import msgspec

from ddcompat.shared import signals

_DIST_INFO = re.compile(
    r"(?:^|/)(?:site|dist)-packages/([A-Za-z0-9_.]+?)-(\d[A-Za-z0-9_.+!]*?)\.(?:dist|egg)-info(?:/|$)"
)
_PYTHON_DIR = re.compile(r"(?:^|/)lib/python(3)\.(\d{1,2})/")
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
MAX_PATH = 4096


class TooLarge(Exception):
    """More bytes than the per-image budget were read."""


class Found(NamedTuple):
    ddtrace: str | None
    python: str | None
    frameworks: tuple[tuple[str, str], ...]
    layers_read: int


class Budget:
    """A byte budget shared by the layers of one image."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0

    def take(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise TooLarge(f"more than {self.limit} bytes")


class Metered:
    """A readable stream that charges what it reads to a budget."""

    def __init__(self, raw: Any, budget: Budget) -> None:
        self.raw, self.budget = raw, budget

    def read(self, n: int = -1) -> bytes:
        budget = self.budget
        want = n if n and n > 0 else 1 << 16
        # never past the budget by more than a byte: the cap is what it says
        data: bytes = self.raw.read(min(want, budget.limit - budget.used + 1))
        budget.take(len(data))
        return data

    def readable(self) -> bool:
        return True


# Read in large blocks: a layer is mostly file data the walk skips, and tarfile's default
# of 10 KiB per read makes that many small reads through the HTTP response.
BLOCK = 1 << 20


def open_layer(stream: Any, media_type: str) -> tarfile.TarFile:
    """A tar stream of a layer blob (gzip, zstd or uncompressed)."""
    mt = media_type.lower()
    if "zstd" in mt:
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(
            stream, read_size=BLOCK, read_across_frames=True
        )
        return tarfile.open(fileobj=reader, mode="r|", bufsize=BLOCK)
    if "gzip" in mt or mt.endswith(".tar.gz"):
        return tarfile.open(fileobj=stream, mode="r|gz", bufsize=BLOCK)
    return tarfile.open(fileobj=stream, mode="r|", bufsize=BLOCK)


def _norm(name: str) -> str:
    name = name[:MAX_PATH]
    while name.startswith(("./", "/")):
        name = name[2:] if name.startswith("./") else name[1:]
    return name.rstrip("/")


def _hidden(path: str, hidden: set[str]) -> bool:
    if not hidden:
        return False
    p = path
    while p:
        if p in hidden:
            return True
        p = p.rpartition("/")[0]
    return False


class Summary(msgspec.Struct, frozen=True):
    """What one layer holds that the walk reads, whatever is above it (so a layer digest
    is read once, ever, and shared by every image built on it): the dist-info
    directories (path, name, version), the Python directories (path, version), the
    whiteouts (paths hidden in the layers below; a directory for an opaque one)."""

    dist_infos: tuple[tuple[str, str, str], ...] = ()
    pythons: tuple[tuple[str, str], ...] = ()
    whiteouts: tuple[str, ...] = ()


def summarize(stream: IO[bytes] | Any, media_type: str) -> Summary:
    """Read one layer to the end of its tar (streamed); CorruptLayer when it is not one
    (truncated, corrupt, another format)."""
    try:
        return _summarize(stream, media_type)
    except TooLarge:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as exc:
        raise CorruptLayer(str(exc) or type(exc).__name__) from None
    except Exception as exc:  # zstandard.ZstdError and the like: the layer, not a bug
        if type(exc).__module__.startswith("zstandard"):
            raise CorruptLayer(str(exc) or type(exc).__name__) from None
        raise


def _summarize(stream: IO[bytes] | Any, media_type: str) -> Summary:
    dist: dict[str, tuple[str, str, str]] = {}
    pythons: dict[str, tuple[str, str]] = {}
    whiteouts: list[str] = []
    with open_layer(stream, media_type) as tar:
        for member in _members(tar):
            path = _norm(member.name)
            base = path.rpartition("/")[2]
            if base.startswith(WHITEOUT):
                parent = path.rpartition("/")[0]
                whiteouts.append(parent if base == OPAQUE else _join(parent, base[len(WHITEOUT) :]))
                continue
            m = _PYTHON_DIR.search(path + "/")
            if m:
                root = path[: m.end() - 1]
                pythons.setdefault(root, (root, f"{m.group(1)}.{m.group(2)}"))
            d = _DIST_INFO.search(path)
            if d:
                root = path[: d.end()].rstrip("/")
                dist.setdefault(root, (root, _canonical(d.group(1)), d.group(2)))
    return Summary(tuple(dist.values()), tuple(pythons.values()), tuple(whiteouts))


def combine(summaries: Iterable[Summary], *, python_known: bool = False) -> Found:
    """The facts of layers given top-down; stops pulling layers once ddtrace and Python
    are known (``python_known``: the config said the Python already)."""
    ddtrace: str | None = None
    python: str | None = None
    frameworks: dict[str, str] = {}
    hidden: set[str] = set()
    read = 0
    for summary in summaries:
        read += 1
        if python is None:
            for path, version in summary.pythons:
                if not _hidden(path, hidden):
                    python = version
                    break
        for path, name, version in summary.dist_infos:
            if _hidden(path, hidden):
                continue
            if name == "ddtrace":
                ddtrace = ddtrace or version
            elif name in signals.WEB_FRAMEWORKS:
                frameworks.setdefault(name, version)
        hidden.update(summary.whiteouts)
        if ddtrace is not None and (python is not None or python_known):
            break
    return Found(ddtrace, python, tuple(sorted(frameworks.items())), read)


def walk(layers: Iterable[tuple[IO[bytes] | Any, str]], *, python_known: bool = False) -> Found:
    """:func:`combine` of layers given top-down as (stream, media type)."""
    return combine((summarize(s, mt) for s, mt in layers), python_known=python_known)


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    try:
        yield from tar
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise CorruptLayer(str(exc) or type(exc).__name__) from None


class CorruptLayer(Exception):
    """A layer that is not a readable tar stream (truncated, corrupt, another format)."""


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
