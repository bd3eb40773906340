"""Bounded caches that a front end owns and can show.

Every cache of judgements or of what was read lives in a :class:`Cache` object that a
front end creates (one per ``check`` run, one per webhook or scanner app) and hands to
the core: none is a module global, none outlives its owner, and each is keyed by
everything its answer depends on. A cache is bounded by an estimate of the bytes its
entries hold (:func:`approx_bytes` of a sample of them); past the bound the oldest
entries go first.

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
    """A map bounded by the estimated bytes of its entries; oldest out first.

    Entries of one cache are alike, so the cache weighs a sample of them in full (the
    first :data:`SAMPLED_FIRST`, then every :data:`SAMPLE_EVERY`-th) and holds as many
    as fit the budget at their mean weight: ``bytes`` is that estimate. ``max_entries``
    bounds the count too. ``get`` is the dict's own lookup (hot paths call it per
    workload). With ``lru=True`` a hit moves the entry to the young end (the webhook's
    decision cache), at the cost of one more step per hit.
    """

    SAMPLED_FIRST = 8
    SAMPLE_EVERY = 256

    __slots__ = (
        "_data",
        "_limit",
        "_mean",
        "_off",
        "_puts",
        "_sampled",
        "_weigh",
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
        self._weigh: Callable[[object], int] = weigh
        self._mean = 0.0
        self._sampled = 0
        self._puts = 0
        self._off = max_bytes <= 0 or max_entries == 0
        # entries that fit: max_entries, and max_bytes at the mean weight (-1: no bound
        # known yet, before the first entry is weighed)
        self._limit = max_entries if max_entries is not None else -1
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
        """The estimated bytes held: entries at their mean sampled weight."""
        return int(len(self._data) * self._mean)

    def _sample(self, key: K, value: V) -> bool:
        """Weigh one entry into the mean; False when it alone exceeds the budget."""
        weight = self._weigh((key, value))
        self._sampled += 1
        self._mean += (weight - self._mean) / self._sampled
        by_bytes = int(self.max_bytes // max(self._mean, 1.0))
        cap = self.max_entries
        self._limit = by_bytes if cap is None else min(cap, by_bytes)
        return weight <= self.max_bytes

    def put(self, key: K, value: V) -> V:
        """Store ``value`` (returned, for ``x = cache.put(k, make())``); a sampled entry
        larger than the whole budget is not kept."""
        if self._off:
            return value
        data = self._data
        data.pop(key, None)
        self._puts += 1
        if (self._sampled < self.SAMPLED_FIRST or self._puts % self.SAMPLE_EVERY == 0) and (
            not self._sample(key, value)
        ):
            return value
        limit = self._limit
        while len(data) >= limit > 0:
            del data[next(iter(data))]
        if limit != 0:
            data[key] = value
        return value

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __repr__(self) -> str:
        return f"<Cache {self.name}: {len(self._data)} entries, {self.bytes}/{self.max_bytes} B>"
