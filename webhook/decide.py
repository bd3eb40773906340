"""Judging what a review holds, and the decision cache: the core judge's results for the
pod or pod template of a request, kept for the next request of the same content (keyed by
that content and the judge's state), the findings an answer is made of, and the deadline
checked between containers."""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import msgspec

from ddcompat.shared import cache as cache_mod
from ddcompat.shared import judge as judge_mod
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import model, signals
from ddcompat.shared import policy as policy_mod
from ddcompat.shared.facts import FactSource
from ddcompat.shared.facts.image import ImageSource
from ddcompat.shared.images import inspector
from ddcompat.shared.parsers import kubernetes as k8s_parser
from ddcompat.webhook.decode import CONTROLLER_LABELS, Request, template_of


class DeadlineExceeded(Exception):
    """Evaluation ran past its deadline; the caller answers per its failure mode (the
    review sets ``uid`` and ``operation`` to answer with)."""

    uid: str = ""
    operation: str = ""
    kind: str = "Pod"
    # the failing findings of the containers judged before the deadline: a finding made
    # is a finding, so enforce denies with them instead of following the failure mode
    failing: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Judgement:
    """What judging one Pod's content gave, with the texts its answers are made of (the
    decision cache keeps these; the answer itself is made per request)."""

    results: tuple[model.WorkloadResult, ...]
    errors: tuple[model.InputError, ...]
    failing: tuple[str, ...]
    warnings: tuple[str, ...]
    all_exempt: bool
    findings: tuple[tuple[str, str], ...]

    @classmethod
    def of(
        cls, results: tuple[model.WorkloadResult, ...], errors: tuple[model.InputError, ...]
    ) -> Judgement:
        failing: list[str] = []
        warnings: list[str] = []
        findings: list[tuple[str, str]] = []
        for r in results:
            if r.exempt is not None:
                continue
            for feature, fr in r.features.items():
                for reason in fr.reasons:
                    if reason.severity == "error":
                        failing.append(_finding_text(r, feature, reason))
                    elif reason.severity == "warning":
                        warnings.append(_finding_text(r, feature, reason))
                    else:
                        continue
                    findings.append((feature, reason.code))
        failing.extend(f"{e.field or 'pod'}: {e.message}" for e in errors)
        exempt = sum(1 for r in results if r.exempt is not None)
        return cls(
            results,
            errors,
            tuple(failing),
            tuple(warnings),
            bool(results) and exempt == len(results),
            tuple(findings),
        )


def _finding_text(r: model.WorkloadResult, feature: str, reason: model.Reason) -> str:
    where = f"container {r.workload.container}: {feature}"
    extra = ""
    if reason.required or reason.observed:
        extra = f" (required {reason.required or '-'}, observed {reason.observed or '-'})"
    return f"{where}: {reason.code}{extra}"


class Judge:
    """What one webhook app judges with: the core judge (evaluator, Kubernetes reader,
    the sources of facts in force) and the decision cache this front end owns.

    A rollout, a scale-up or a DaemonSet sends many Pods that differ only in name and
    uid. The decision cache keeps the judgement of a Pod's content for the next Pod with
    the same content; its key (:func:`_content_key`) holds everything the judgement reads
    (namespace, workload, labels, annotations, node selection, images, the variables the
    signals read) and the judge's state (the day judged, the matrix, the policy, what the
    sources know), so Pods differing in DD_SERVICE, probes or resources share an entry and
    a judgement made yesterday is never today's answer. The answer itself (message, uid,
    mode, dryRun) is still made per request. ``cache_size`` 0 turns the decision cache off.
    """

    __slots__ = ("core", "decisions", "image_misses", "images")

    def __init__(
        self,
        matrix: matrix_mod.Matrix,
        policy: policy_mod.Policy = policy_mod.DEFAULT,
        *,
        as_of: datetime.date | None = None,
        cache_size: int = 512,
        cache_bytes: int = 64 << 20,
        images: inspector.Inspector | None = None,
        sources: Sequence[FactSource] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        # the image inspector (--inspect-images): admission only looks in its caches (the
        # judge's image source); a miss is queued here for the app's background
        # inspection (never waited on)
        self.images = images
        self.core = judge_mod.Judge(
            matrix,
            policy,
            as_of=as_of,
            clock=clock,
            sources=[*sources, *([ImageSource(images)] if images is not None else [])],
        )
        self.image_misses: dict[tuple[str, str, str], None] = {}
        self.decisions: cache_mod.Cache[Hashable, Judgement] | None = (
            cache_mod.Cache("webhook.decisions", cache_bytes, lru=True, max_entries=cache_size)
            if cache_size > 0
            else None
        )

    @property
    def reader(self) -> k8s_parser.Reader:
        return self.core.reader

    def want(self, key: tuple[str, str, str]) -> None:
        """Queue what a source needs read (bounded: past it, asked for again later)."""
        if len(self.image_misses) < MAX_IMAGE_QUEUE:
            self.image_misses[key] = None


def workload_of(meta: dict[str, Any]) -> tuple[str, str] | None:
    """The workload a Pod belongs to, from its controller reference alone (no API calls):
    a ReplicaSet named ``<deployment>-<pod-template-hash>`` is its Deployment's."""
    return owner_of(k8s_parser.controller_of(meta), meta.get("labels"))


def owner_of(ref: tuple[str, str] | None, labels: Any) -> tuple[str, str] | None:
    if ref is None:
        return None
    kind, name = ref
    pod_hash = labels.get("pod-template-hash") if isinstance(labels, dict) else None
    # (the API server only sends string labels; anything else names no Deployment)
    if (
        kind == "ReplicaSet"
        and isinstance(pod_hash, str)
        and pod_hash
        and name.endswith(f"-{pod_hash}")
    ):
        return "Deployment", name[: -len(pod_hash) - 1]
    return ref


_KEY_ENCODER = msgspec.json.Encoder(order="deterministic")


def _merged(a: dict[str, str] | None, b: dict[str, str] | None) -> dict[str, str] | None:
    if not a:
        return b
    return {**a, **b} if b else a


def _content_key(
    meta: k8s_parser.WireMeta,
    owner: tuple[str, str] | None,
    spec: k8s_parser.WireSpec[Any],
    containers: list[k8s_parser.ContainerKey],
) -> Hashable:
    """Everything the judgement of a Pod reads, as a hashable value: Pods that differ
    only in what no judgement reads (names, uids, DD_SERVICE, probes) share it."""
    return (
        meta.namespace,
        owner or ("Pod", meta.name or meta.generateName),
        tuple(kv for kv in meta.labels.items() if kv[0] not in CONTROLLER_LABELS)
        if meta.labels
        else (),
        signals.read_annotations(meta.annotations) if meta.annotations else (),
        tuple(spec.nodeSelector.items()) if spec.nodeSelector else (),
        _KEY_ENCODER.encode(spec.affinity) if spec.affinity else b"",
        tuple(c.image for c in spec.initContainers) if spec.initContainers else (),
        tuple(containers),
    )


def judge_request(
    request: Request,
    owner: tuple[str, str] | None,
    judge: Judge,
    deadline: float | None,
    clock: Callable[[], float],
) -> Judgement:
    if request.problem is not None:
        return Judgement.of((), (request.problem,))
    obj = request.object
    assert obj is not None
    cache = judge.decisions
    spec, meta = obj.spec, obj.metadata
    if obj.kind != "Pod" and meta is not None:
        # a workload: keyed like the Pods its template makes (what the judgement reads)
        template = template_of(obj)
        spec = template.spec if template is not None else None
        if template is not None and template.metadata is not None:
            t = template.metadata
            meta = k8s_parser.WireMeta(
                namespace=meta.namespace,
                labels=_merged(meta.labels, t.labels),
                annotations=_merged(meta.annotations, t.annotations),
            )
    key: Hashable | None = None
    if cache is not None and meta is not None and spec is not None and spec.containers is not None:
        containers = request.containers
        if containers is None:
            containers = [k8s_parser.container_key(c) for c in spec.containers]
        if not meta.annotations or signals.cacheable(signals.read_annotations(meta.annotations)):
            key = (judge.core.state(), _content_key(meta, owner, spec, containers))
            found = cache.get(key)
            if found is not None:
                return found
    parsed = model.ParseResult()
    try:
        judge.reader.read_object(obj, "admission", "", parsed, request.containers)
    except k8s_parser.DocumentError as exc:
        parsed.errors.append(model.InputError("admission", str(exc), exc.field))
    missed = bool(judge.core.sources) and _with_sources(parsed, judge)
    judged = _evaluate(parsed, owner, judge.core, deadline, clock)
    if cache is not None and key is not None and not missed:
        # (a judgement without its image's facts is not kept: the next pod may have them)
        cache.put(key, judged)
    return judged


MAX_IMAGE_QUEUE = 1024


def _with_sources(parsed: model.ParseResult, judge: Judge) -> bool:
    """Apply what the judge's sources know of each container (their caches); queue what
    they need read. True when a source did not know a container yet."""
    missed: list[tuple[str, str, str]] = []
    for i, w in enumerate(parsed.workloads):
        parsed.workloads[i] = judge.core.facts(w, missed.append)
    for key in missed:
        judge.want(key)
    return bool(missed)


def _evaluate(
    parsed: model.ParseResult,
    owner: tuple[str, str] | None,
    judge: judge_mod.Judge,
    deadline: float | None,
    clock: Callable[[], float],
) -> Judgement:
    evaluated: list[model.WorkloadResult] = []
    for w in parsed.workloads:
        if owner is not None:
            # policy selectors (names, kinds) see the workload, as in `check` and the scanner
            w = msgspec.structs.replace(w, kind=owner[0], name=owner[1])
        if deadline is not None and clock() > deadline:
            exc = DeadlineExceeded(
                f"evaluated {len(evaluated)} of {len(parsed.workloads)} containers"
            )
            exc.failing = Judgement.of(tuple(evaluated), tuple(parsed.errors)).failing
            raise exc
        evaluated.append(judge.evaluate(w))
    judged = Judgement.of(tuple(evaluated), tuple(parsed.errors))
    if deadline is not None and clock() > deadline:
        exc = DeadlineExceeded("evaluation finished after the deadline")
        exc.failing = judged.failing
        raise exc
    return judged
