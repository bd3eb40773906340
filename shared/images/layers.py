"""What an image's layers say, read top-down as streams (never written to disk): the
``*.dist-info`` (and ``*.egg-info``) directories of ``ddtrace`` and the web frameworks, and
the ``pythonX.Y`` directory of the interpreter. Whiteouts of upper layers hide what lower
layers hold (``.wh.<name>``, and ``.wh..wh..opq`` for a whole directory). The walk stops
after the layer in which ddtrace and Python are both known.
"""

from __future__ import annotations

import io
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
    """The byte budgets shared by the layers of one image: bytes read from the registry,
    and bytes they decompress to (a layer of a few KB can inflate to gigabytes)."""

    def __init__(self, limit: int, unpacked_limit: int | None = None) -> None:
        self.limit, self.used = limit, 0
        self.unpacked_limit = unpacked_limit if unpacked_limit is not None else 4 * limit
        self.unpacked = 0

    def take(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise TooLarge(f"more than {self.limit} bytes")

    def unpack(self, n: int) -> None:
        self.unpacked += n
        if self.unpacked > self.unpacked_limit:
            raise TooLarge(f"more than {self.unpacked_limit} bytes once decompressed")


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


class _Unpacked(io.RawIOBase):
    """The decompressed bytes of a layer's stream (gzip, zstd, or none), each chunk charged
    to the budget's unpacked bytes as it is made: a bomb stops at the budget, never in
    memory (``max_length`` keeps every chunk at most what was asked for)."""

    def __init__(self, source: Any, kind: str, budget: Budget | None) -> None:
        self.source, self.kind, self.budget = source, kind, budget
        self.gzip = zlib.decompressobj(16 + zlib.MAX_WBITS) if kind == "gzip" else None
        self.zstd: Any = None
        if kind == "zstd":
            import zstandard

            self.zstd = zstandard.ZstdDecompressor().stream_reader(
                source, read_size=BLOCK, read_across_frames=True
            )

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = len(b)
        data = self._next(n)
        if data and self.budget is not None:
            self.budget.unpack(len(data))
        b[: len(data)] = data
        return len(data)

    def _next(self, n: int) -> bytes:
        if self.zstd is not None:
            return bytes(self.zstd.read(n))
        d = self.gzip
        if d is None:
            return bytes(self.source.read(n))
        while True:
            if d.unconsumed_tail:
                out = d.decompress(d.unconsumed_tail, n)
            elif d.eof:
                return b""  # (what follows the gzip member is read by the drain)
            else:
                chunk = self.source.read(BLOCK)
                if not chunk:
                    raise EOFError("compressed layer ended early")
                out = d.decompress(chunk, n)
            if out:
                return out


def open_layer(stream: Any, media_type: str, budget: Budget | None = None) -> tarfile.TarFile:
    """A tar stream of a layer blob (gzip, zstd or uncompressed), decompressed here (and
    charged to ``budget``) and buffered, so tarfile's small reads cost what they read."""
    mt = media_type.lower()
    kind = "zstd" if "zstd" in mt else "gzip" if "gzip" in mt or mt.endswith(".tar.gz") else "none"
    buffered = io.BufferedReader(_Unpacked(stream, kind, budget), buffer_size=BLOCK)
    # (names are anyone's bytes: undecodable ones are replaced, never a traceback)
    return tarfile.open(fileobj=buffered, mode="r|", bufsize=tarfile.RECORDSIZE, errors="replace")


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


def summarize(stream: IO[bytes] | Any, media_type: str, budget: Budget | None = None) -> Summary:
    """Read one layer to the end of its tar (streamed), then the rest of the blob (so its
    digest can be checked); CorruptLayer when it is not one (truncated, corrupt, another
    format)."""
    try:
        found = _summarize(stream, media_type, budget)
        while stream.read(BLOCK):
            pass
        return found
    except TooLarge:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as exc:
        raise CorruptLayer(str(exc) or type(exc).__name__) from None
    except Exception as exc:  # zstandard.ZstdError and the like: the layer, not a bug
        if type(exc).__module__.startswith("zstandard"):
            raise CorruptLayer(str(exc) or type(exc).__name__) from None
        raise


def _summarize(stream: IO[bytes] | Any, media_type: str, budget: Budget | None) -> Summary:
    dist: dict[str, tuple[str, str, str]] = {}
    pythons: dict[str, tuple[str, str]] = {}
    whiteouts: list[str] = []
    with open_layer(stream, media_type, budget) as tar:
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
    """The members of a tar stream, one at a time: tarfile's own list of them is emptied
    as the walk goes (a layer of a million empty files holds one at a time)."""
    try:
        while True:
            member = tar.next()
            if member is None:
                return
            tar.members.clear()  # type: ignore[attr-defined]
            yield member
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise CorruptLayer(str(exc) or type(exc).__name__) from None


class CorruptLayer(Exception):
    """A layer that is not a readable tar stream (truncated, corrupt, another format)."""


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
