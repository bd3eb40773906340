"""The one judge every front end calls: workloads (from any reader) -> the facts of every
source in force, in the precedence of :mod:`ddcompat.shared.precedence` -> the evaluator
-> results.

A front end makes one judge per run (``check``) or per app (the scanner, the webhook)
and keeps only its own I/O and rendering: it reads workloads with the judge's
:attr:`~Judge.reader` (whose caches the judge owns), hands the judge the sources of facts
it can feed (:mod:`ddcompat.shared.facts`), resolves what they ask for (``want``) in its own
way, and renders the results. A cache of judgements a front end keeps is keyed by
:meth:`Judge.state` as well as by the workload: the day judged, the matrix, the policy
and what the sources know.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

from ddcompat.shared import evaluator, model
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod
from ddcompat.shared.facts import FactSource
from ddcompat.shared.parsers import kubernetes as k8s_parser

# what a source asks for when it does not know a workload yet (front ends collect these)
Want = Callable[[Any], object]


class Judge:
    """Judges workloads under one matrix and policy with the sources of facts given."""

    __slots__ = ("evaluator", "reader", "sources")

    def __init__(
        self,
        matrix: matrix_mod.Matrix,
        policy: policy_mod.Policy = policy_mod.DEFAULT,
        *,
        as_of: datetime.date | None = None,
        clock: Callable[[], float] = time.time,
        sources: Sequence[FactSource] = (),
        cache_bytes: int = evaluator.DEFAULT_CACHE_BYTES,
    ) -> None:
        self.evaluator = evaluator.Evaluator(
            matrix, policy, as_of=as_of, clock=clock, cache_bytes=cache_bytes
        )
        # what each template says: one reader whose caches live as long as the judge
        self.reader = k8s_parser.Reader()
        self.sources = tuple(sources)

    def has_source(self, name: str) -> bool:
        """Whether a source of this name is in force (a front end feeds it)."""
        return any(s.name == name for s in self.sources)

    def day(self) -> str:
        """The day judged (``--as-of``, or the calendar's today)."""
        return self.evaluator.day()

    def state(self) -> Hashable:
        """Everything a judgement depends on besides the workload: the day judged, the
        matrix (name and version), the policy, and what each source knows."""
        m = self.evaluator.matrix
        return (
            self.evaluator.day(),
            m.name,
            m.version,
            id(self.evaluator.policy),
            tuple(s.state() for s in self.sources),
        )

    def facts(
        self, w: model.WorkloadContainer, want: Want | None = None
    ) -> model.WorkloadContainer:
        """The workload with what each source knows of it; what a source would need to
        read is handed to ``want``."""
        for source in self.sources:
            w, needed = source.apply(w)
            if needed is not None and want is not None:
                want(needed)
        return w

    def evaluate(self, w: model.WorkloadContainer) -> model.WorkloadResult:
        """A workload whose facts are complete (:meth:`facts` applied, and whatever the
        front end knows besides, such as the node a pod runs on), evaluated."""
        return self.evaluator.evaluate(w)

    def judge(self, w: model.WorkloadContainer, want: Want | None = None) -> model.WorkloadResult:
        """One workload, its facts completed by the sources, evaluated."""
        return self.evaluator.evaluate(self.facts(w, want))

    def judge_all(
        self, workloads: Iterable[model.WorkloadContainer], want: Want | None = None
    ) -> list[model.WorkloadResult]:
        return [self.judge(w, want) for w in workloads]
