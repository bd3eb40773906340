"""Bounded caches that a front end owns and can show.

Every cache of judgements or of what was read lives in a :class:`Cache` object that a
front end creates (one per ``check`` run, one per webhook or scanner app) and hands to
the core: none is a module global, none outlives its owner, and each is keyed by
everything its answer depends on. A cache is bounded by an estimate of the bytes its
entries hold (:func:`approx_bytes`, taken once per entry when it is stored); past the
bound the oldest entries go first. Weighing walks an entry's objects, so a cache weighs
its first entries and every 64th in full and counts the others at their running mean.

Memoised pure functions of a string (``functools.lru_cache`` on image-name or version
parsing) are not caches of this kind: their answer depends on their argument alone.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import msgspec

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


class Cache(Generic[K, V]):
    """A map bounded by the estimated bytes of its keys and values; oldest out first.

    ``get`` is the dict's own lookup (hot paths call it per workload); ``put`` weighs
    the entry (see the module). ``max_entries`` bounds the count too. With ``lru=True`` a hit moves
    the entry to the young end (the webhook's decision cache), at the cost of one more
    step per hit.
    """

    __slots__ = (
        "_data",
        "_mean",
        "_puts",
        "_sampled",
        "_weigh",
        "_weights",
        "bytes",
        "get",
        "hits",
        "lru",
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
        self.lru = lru
        self._data: dict[K, V] = {}
        self._weights: dict[K, int] = {}
        self._weigh: Callable[[object], int] = weigh
        # entries of one cache are alike: the first ones and every 64th are weighed in
        # full, the others at the running mean (weighing walks the entry's objects)
        self._mean = 0.0
        self._sampled = 0
        self._puts = 0
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.get: Callable[[K], V | None] = self._data.get if not lru else self._lru_get

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

    def put(self, key: K, value: V) -> V:
        """Store ``value`` (returned, for ``x = cache.put(k, make())``); an entry larger
        than the whole budget is not kept."""
        if self.max_bytes <= 0 or self.max_entries == 0:
            return value
        old = self._weights.pop(key, None)
        if old is not None:
            self.bytes -= old
            del self._data[key]
        self._puts += 1
        if self._sampled < 64 or self._puts % 64 == 0:
            weight = self._weigh((key, value))
            self._mean += (weight - self._mean) / (self._sampled + 1)
            self._sampled += 1
        else:
            weight = int(self._mean) + 1
        if weight > self.max_bytes:
            return value
        data, weights = self._data, self._weights
        cap = self.max_entries
        while data and (
            self.bytes + weight > self.max_bytes or (cap is not None and len(data) >= cap)
        ):
            oldest = next(iter(data))
            del data[oldest]
            self.bytes -= weights.pop(oldest)
        data[key] = value
        weights[key] = weight
        self.bytes += weight
        return value

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __repr__(self) -> str:
        return f"<Cache {self.name}: {len(self._data)} entries, {self.bytes}/{self.max_bytes} B>"
