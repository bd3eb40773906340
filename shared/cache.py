"""Bounded caches that a front end owns and can show.

Every cache of judgements or of what was read lives in a :class:`Cache` object that a
front end creates (one per ``check`` run, one per webhook or scanner app) and hands to
the core: none is a module global, none outlives its owner, and each is keyed by
everything its answer depends on. A cache is bounded by an estimate of the bytes its
entries hold (each entry weighed when it is put; see :class:`Cache`); past the bound
the oldest entries go first.

Memoised pure functions of a string (``functools.lru_cache`` on image-name or version
parsing) are not caches of this kind: their answer depends on their argument alone.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import msgspec

# The directory the on-disk caches live in (the validated matrix, image inspections):
# one environment variable for every front end. Unset and empty mean what each cache's
# owner says (see cache_dir_setting).
CACHE_DIR_ENV = "DDCOMPAT_CACHE_DIR"


def cache_dir_setting() -> str | None:
    """``$DDCOMPAT_CACHE_DIR`` as set: None when unset, "" when set empty (no disk cache)."""
    return os.environ.get(CACHE_DIR_ENV)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_SCALARS = (str, bytes, int, float, bool, type(None))


def approx_bytes(obj: object, _seen: set[int] | None = None) -> int:
    """Bytes held by ``obj`` and what it refers to (tuples, lists, dicts, sets, msgspec
    Structs), each object counted once. An estimate: interned and shared objects are
    counted as if they were this entry's own."""
    seen = _seen if _seen is not None else set()
    stack = [obj]
    total = 0
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, _SCALARS):
            continue
        if isinstance(o, tuple | list | set | frozenset):
            stack.extend(o)
        elif isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, msgspec.Struct):
            stack.extend(getattr(o, f) for f in o.__struct_fields__)
    return total


_SIZER = msgspec.msgpack.Encoder()


def encoded_size(obj: object) -> int | None:
    """A cheap measure of how much an entry holds: the length of its MessagePack encoding
    (linear in what it holds, a few microseconds for a small entry); None when it has a
    value MessagePack cannot encode."""
    try:
        return len(_SIZER.encode(obj))
    except (TypeError, ValueError, msgspec.EncodeError):
        return None


class Cache(Generic[K, V]):
    """A map bounded by the estimated bytes of its entries; oldest out first.

    Every entry is given a weight when it is put: its :func:`encoded_size` times the
    bytes-per-encoded-byte ratio learnt from the entries weighed in full
    (:func:`approx_bytes` of the first :data:`SAMPLED_FIRST`, every
    :data:`SAMPLE_EVERY`-th, and any entry far larger than those seen so far). The
    weights of the entries held add up to at most ``max_bytes``, however unlike the
    entries are (one Pod of 6,000 containers weighs what it holds, not what the first
    small Pods did); ``bytes`` is that sum. ``max_entries`` bounds the count too. ``get``
    is the dict's own lookup (hot paths call it per workload). With ``lru=True`` a hit
    moves the entry to the young end (the webhook's decision cache), at the cost of one
    more step per hit.
    """

    SAMPLED_FIRST = 8
    SAMPLE_EVERY = 256
    # an entry this many times the mean encoded size is weighed in full
    OUTLIER = 4.0

    __slots__ = (
        "_data",
        "_mean",
        "_mean_size",
        "_off",
        "_puts",
        "_ratio",
        "_sampled",
        "_total",
        "_weigh",
        "_weights",
        "get",
        "hits",
        "max_bytes",
        "max_entries",
        "misses",
        "name",
    )

    def __init__(
        self,
        name: str,
        max_bytes: int,
        *,
        lru: bool = False,
        max_entries: int | None = None,
        weigh: Callable[[object], int] = approx_bytes,
    ) -> None:
        self.name = name
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._data: dict[K, V] = {}
        self._weights: dict[K, int] = {}
        self._total = 0
        self._weigh: Callable[[object], int] = weigh
        self._mean = 0.0  # mean full weight of the entries weighed in full
        self._mean_size = 0.0  # mean encoded size of those
        self._ratio = 0.0  # bytes held per encoded byte, learnt from them
        self._sampled = 0
        self._puts = 0
        self._off = max_bytes <= 0 or max_entries == 0
        self.hits = 0
        self.misses = 0
        self.get: Callable[[K], V | None] = self._lru_get if lru else self._data.get

    def _lru_get(self, key: K) -> V | None:
        data = self._data
        found = data.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        del data[key]
        data[key] = found
        return found

    @property
    def bytes(self) -> int:
        """The estimated bytes held: the sum of the entries' weights."""
        return self._total

    def _weight(self, key: K, value: V) -> int:
        """One entry's weight: measured, or weighed in full (which teaches the ratio)."""
        entry = (key, value)
        size = encoded_size(entry)
        sample = (
            self._sampled < self.SAMPLED_FIRST
            or self._puts % self.SAMPLE_EVERY == 0
            or size is None
            or self._ratio <= 0
            or size > self.OUTLIER * max(self._mean_size, 1.0)
        )
        if not sample:
            assert size is not None
            return int(size * self._ratio)
        weight = self._weigh(entry)
        if size is not None:
            self._sampled += 1
            n = self._sampled
            self._mean += (weight - self._mean) / n
            self._mean_size += (size - self._mean_size) / n
            self._ratio = self._mean / max(self._mean_size, 1.0)
        return weight

    def put(self, key: K, value: V) -> V:
        """Store ``value`` (returned, for ``x = cache.put(k, make())``); an entry larger
        than the whole budget is not kept."""
        if self._off:
            return value
        data, weights = self._data, self._weights
        if key in data:
            del data[key]
            self._total -= weights.pop(key)
        self._puts += 1
        weight = self._weight(key, value)
        if weight > self.max_bytes:
            return value
        cap = self.max_entries
        while data and (
            self._total + weight > self.max_bytes or (cap is not None and len(data) >= cap)
        ):
            old = next(iter(data))
            del data[old]
            self._total -= weights.pop(old)
        data[key] = value
        weights[key] = weight
        self._total += weight
        return value

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __repr__(self) -> str:
        return f"<Cache {self.name}: {len(self._data)} entries, {self.bytes}/{self.max_bytes} B>"
