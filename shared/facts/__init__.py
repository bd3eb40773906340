"""Sources of facts read after parsing, behind one small protocol.

The parsers read what a descriptor says itself (annotations, library injection, Lambda
layers and runtimes, Dockerfiles and lock files, image tags, the environment); a source
here adds what is known elsewhere about a workload (what its image holds, ...). Each is
one module with one class that says which facts it can tell (its rows in
:mod:`ddcompat.shared.precedence`) and applies them to a workload with no I/O of its own:
what it would need to read (an image not inspected yet) it names as a key, which the front
end that owns the I/O resolves later (``check`` before judging, the scanner and the
webhook in the background). The judge (:mod:`ddcompat.shared.judge`) applies the sources
a front end hands it, in the order given, and the precedence table decides each fact.

Adding a source: one module here, its rows in the precedence table, and its wiring in
each front end that can supply its I/O.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

from ddcompat.shared import model, precedence


class FactSource(Protocol):
    """What every source of facts read after parsing provides."""

    # its name (metrics and docs), and the facts_source words it writes
    name: str
    writes: tuple[model.FactSource, ...]
    # what it can tell (precedence.Fact names)
    tells: frozenset[precedence.Fact]

    def apply(self, w: model.WorkloadContainer) -> tuple[model.WorkloadContainer, Hashable | None]:
        """The workload with what this source knows of it now, and the key of what it
        would need to read to know more (None: nothing)."""
        ...

    def state(self) -> Hashable:
        """What its answers depend on beyond the workload (a cache of judgements made
        with this source is keyed by it): changes when what it knows does."""
        ...
