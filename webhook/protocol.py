"""AdmissionReview (admission.k8s.io/v1) protocol logic, apart from any HTTP adapter.

``review(body, ...)`` takes the decoded JSON of a request and returns the response
body. A policy violation is a normal, well-formed response with ``allowed: false``; a
request that is not a valid AdmissionReview raises :class:`AdmissionError` carrying the
HTTP status the adapter should answer with (4xx, never 5xx).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import time
from collections.abc import Callable, Hashable
from typing import Any, Literal, NotRequired, TypedDict

import msgspec
import orjson

from ddcompat.shared import evaluator, model
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod
from ddcompat.shared.parsers import kubernetes as k8s_parser

API_VERSION = "admission.k8s.io/v1"
Mode = Literal["enforce", "warn", "audit"]
MODES: tuple[Mode, ...] = ("enforce", "warn", "audit")
Decision = Literal["allowed", "denied", "warned", "audited", "exempt", "skipped", "dry_run"]
MAX_WARNINGS = 10
MAX_WARNING_LEN = 200
MAX_MESSAGE_LEN = 4000


class GroupVersionKind(TypedDict):
    group: str
    version: str
    kind: str


class AdmissionRequest(TypedDict):
    uid: str
    kind: GroupVersionKind
    operation: Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
    namespace: NotRequired[str]
    name: NotRequired[str]
    object: NotRequired[dict[str, Any] | None]
    dryRun: NotRequired[bool]


class Status(TypedDict):
    code: int
    reason: str
    message: str


class AdmissionResponse(TypedDict):
    uid: str
    allowed: bool
    status: NotRequired[Status]
    warnings: NotRequired[list[str]]


class AdmissionReview(TypedDict):
    apiVersion: str
    kind: Literal["AdmissionReview"]
    response: AdmissionResponse


class DeadlineExceeded(Exception):
    """Evaluation ran past its deadline; the caller answers per its failure mode."""


class AdmissionError(Exception):
    """A request that is not a usable AdmissionReview; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """The response and what to record about it."""

    body: AdmissionReview
    decision: Decision
    operation: str
    mode: Mode
    results: tuple[model.WorkloadResult, ...] = ()
    errors: tuple[model.InputError, ...] = ()
    # (feature, code) of each warning- or error-severity finding of non-exempt containers
    findings: tuple[tuple[str, str], ...] = ()


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


def decode_body(raw: bytes) -> Any:
    """The JSON of a request body; AdmissionError (400) when it is not JSON."""
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, RecursionError) as exc:
        raise AdmissionError(400, f"the body is not valid JSON: {exc}") from None


def parse_request(body: Any) -> AdmissionRequest:
    if not isinstance(body, dict):
        raise AdmissionError(400, "the body is not a JSON object")
    api_version = body.get("apiVersion")
    if body.get("kind") != "AdmissionReview":
        raise AdmissionError(400, "kind must be AdmissionReview")
    if api_version != API_VERSION:
        raise AdmissionError(
            400,
            f"apiVersion {api_version!r} is not supported: register the webhook with "
            f"admissionReviewVersions: [v1]",
        )
    request = body.get("request")
    if not isinstance(request, dict):
        raise AdmissionError(400, "request is missing or not an object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise AdmissionError(400, "request.uid is missing")
    kind = request.get("kind")
    if not isinstance(kind, dict):
        raise AdmissionError(400, "request.kind is missing")
    obj = request.get("object")
    if obj is not None and not isinstance(obj, dict):
        raise AdmissionError(400, "request.object is not an object")
    if not isinstance(request.get("operation"), str):
        raise AdmissionError(400, "request.operation is missing")
    return request  # type: ignore[return-value]


def _review(uid: str, allowed: bool, **extra: Any) -> AdmissionReview:
    response: AdmissionResponse = {"uid": uid, "allowed": allowed}
    response.update(extra)  # type: ignore[typeddict-item]
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _finding_text(r: model.WorkloadResult, feature: str, reason: model.Reason) -> str:
    where = f"container {r.workload.container}: {feature}"
    extra = ""
    if reason.required or reason.observed:
        extra = f" (required {reason.required or '-'}, observed {reason.observed or '-'})"
    return f"{where}: {reason.code}{extra}"


def _bounded(items: list[str]) -> list[str]:
    if len(items) <= MAX_WARNINGS:
        return [_short(i, MAX_WARNING_LEN) for i in items]
    head = [_short(i, MAX_WARNING_LEN) for i in items[: MAX_WARNINGS - 1]]
    return [*head, f"ddcompat: and {len(items) - len(head)} more findings"]


class DecisionCache:
    """What judging a Pod's content gave, for the next Pod with the same content.

    A rollout, a scale-up or a DaemonSet sends many Pods that differ only in name and
    uid. The key holds everything the judgement reads: namespace, workload (or the Pod's
    own name when it has no controller), labels, annotations and what the spec says to the
    signals (typed path: :func:`_content_key`; a Pod read in full: :meth:`key`, a digest of
    its whole spec). The answer itself (message, uid, mode, dryRun) is still made per
    request. Bounded, least recently used.
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.entries: collections.OrderedDict[Hashable, Judgement] = collections.OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(meta: dict[str, Any], owner: tuple[str, str] | None, spec: Any) -> bytes | None:
        who = owner or ("Pod", meta.get("name") or meta.get("generateName"))
        try:
            content = orjson.dumps(
                [meta.get("namespace"), who, meta.get("labels"), meta.get("annotations"), spec],
                option=orjson.OPT_SORT_KEYS,
            )
        except TypeError:  # content orjson cannot encode: judge it without the cache
            return None
        # a 128-bit digest keeps the cache small (a spec is kilobytes)
        return hashlib.blake2b(content, digest_size=16).digest()

    def get(self, key: Hashable) -> Judgement | None:
        found = self.entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        self.entries.move_to_end(key)
        return found

    def put(self, key: Hashable, judged: Judgement) -> None:
        self.entries[key] = judged
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)


def workload_of(meta: dict[str, Any]) -> tuple[str, str] | None:
    """The workload a Pod belongs to, from its controller reference alone (no API calls):
    a ReplicaSet named ``<deployment>-<pod-template-hash>`` is its Deployment's."""
    return _workload(k8s_parser.controller_of(meta), meta.get("labels"))


def _workload(ref: tuple[str, str] | None, labels: Any) -> tuple[str, str] | None:
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


def _pod_name(namespace: Any, name: Any) -> str:
    return f"{namespace or '-'}/{name or '-'}"


def review(
    body: Any,
    *,
    matrix: matrix_mod.Matrix,
    policy: policy_mod.Policy,
    mode: Mode,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    cache: DecisionCache | None = None,
) -> Outcome:
    """Decide one AdmissionReview. Raises AdmissionError for malformed requests, and
    DeadlineExceeded when ``clock()`` passes ``deadline`` between steps (each step, one
    container's evaluation, is short and bounded)."""
    request = parse_request(body)
    uid = request["uid"]
    operation = request["operation"]
    kind = request["kind"]
    obj = request.get("object")
    if (
        kind.get("kind") != "Pod"
        or kind.get("group", "") != ""
        or operation not in ("CREATE", "UPDATE")
        or obj is None
    ):
        # Not ours to judge (the webhook configuration should not send these).
        return Outcome(_review(uid, True), "skipped", operation, mode)
    pod = dict(obj)
    meta = dict(pod.get("metadata") or {})
    if not meta.get("namespace") and request.get("namespace"):
        meta["namespace"] = request["namespace"]
    if not meta.get("name") and not meta.get("generateName"):
        meta["name"] = request.get("name") or "(unnamed)"
    pod["metadata"] = meta
    pod.setdefault("kind", "Pod")
    pod.setdefault("apiVersion", "v1")
    owner = workload_of(meta)
    key = cache.key(meta, owner, pod.get("spec")) if cache is not None else None
    judged = cache.get(key) if cache is not None and key is not None else None
    if judged is None:
        judged = _judge(pod, owner, matrix, policy, deadline, clock)
        if cache is not None and key is not None:
            cache.put(key, judged)
    dry_run = bool(request.get("dryRun"))
    pod_name = _pod_name(meta.get("namespace"), meta.get("name") or meta.get("generateName"))
    return _decide(uid, operation, mode, judged, dry_run, pod_name)


# --- The typed path: msgspec decodes only what a judgement reads --------------------
#
# A Pod review is ~15-20 KB of which a judgement reads a few hundred bytes (metadata,
# container names, images, env); managedFields, probes, volumes and oldObject are skipped
# in C. Anything outside the plain shape goes through review() on the full JSON, which
# names the problem; both give the same answer (tested).


class WireGroupVersionKind(msgspec.Struct, gc=False):
    group: str = ""
    version: str = ""
    kind: str = ""


class WireRequest(msgspec.Struct, gc=False):
    uid: str
    kind: WireGroupVersionKind
    operation: str
    namespace: str | None = None
    name: str | None = None
    object: k8s_parser.WireObject[msgspec.Raw] | None = None
    dryRun: bool | None = None


class WireReview(msgspec.Struct, gc=False):
    apiVersion: str
    kind: str
    request: WireRequest


_REVIEW_DECODER = msgspec.json.Decoder(WireReview)
_KEY_ENCODER = msgspec.json.Encoder(order="deterministic")


def _content_key(
    meta: k8s_parser.WireMeta,
    owner: tuple[str, str] | None,
    spec: k8s_parser.WireSpec[msgspec.Raw],
    containers: list[k8s_parser.ContainerKey],
) -> Hashable:
    """Everything the judgement of a typed Pod reads, as a hashable value: Pods that
    differ only in what no judgement reads (names, uids, DD_SERVICE, probes) share it."""
    return (
        meta.namespace,
        owner or ("Pod", meta.name or meta.generateName),
        tuple(meta.labels.items()) if meta.labels else (),
        tuple(meta.annotations.items()) if meta.annotations else (),
        tuple(spec.nodeSelector.items()) if spec.nodeSelector else (),
        _KEY_ENCODER.encode(spec.affinity) if spec.affinity else b"",
        tuple(c.image for c in spec.initContainers) if spec.initContainers else (),
        tuple(containers),
    )


def review_json(
    raw: bytes,
    *,
    matrix: matrix_mod.Matrix,
    policy: policy_mod.Policy,
    mode: Mode,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    cache: DecisionCache | None = None,
) -> Outcome:
    """:func:`review` of a raw request body (AdmissionError 400 when it is not JSON)."""
    outcome = _review_typed(raw, matrix, policy, mode, deadline, clock, cache)
    if outcome is not None:
        return outcome
    return review(
        decode_body(raw),
        matrix=matrix,
        policy=policy,
        mode=mode,
        deadline=deadline,
        clock=clock,
        cache=cache,
    )


def _review_typed(
    raw: bytes,
    matrix: matrix_mod.Matrix,
    policy: policy_mod.Policy,
    mode: Mode,
    deadline: float | None,
    clock: Callable[[], float],
    cache: DecisionCache | None,
) -> Outcome | None:
    """The answer through the typed path, or None when review() must give it."""
    try:
        wire = _REVIEW_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    request = wire.request
    if wire.apiVersion != API_VERSION or wire.kind != "AdmissionReview" or not request.uid:
        return None
    uid, operation, obj = request.uid, request.operation, request.object
    kind = request.kind
    if kind.kind != "Pod" or kind.group != "" or operation not in ("CREATE", "UPDATE"):
        return Outcome(_review(uid, True), "skipped", operation, mode)
    if obj is None:
        return Outcome(_review(uid, True), "skipped", operation, mode)
    if obj.kind is None or obj.apiVersion is None:
        return None  # (review() fills them in, telling a null from a missing key)
    meta = obj.metadata
    if meta is None:
        return None
    if not meta.namespace and request.namespace:
        meta.namespace = request.namespace
    if not meta.name and not meta.generateName:
        meta.name = request.name or "(unnamed)"
    owner = _workload(k8s_parser.wire_controller(meta), meta.labels)
    spec = obj.spec
    if obj.kind != "Pod" or spec is None or spec.containers is None:
        return None
    try:
        containers = [k8s_parser.wire_container(c) for c in spec.containers]
    except k8s_parser.Irregular:
        return None
    key = _content_key(meta, owner, spec, containers) if cache is not None else None
    judged = cache.get(key) if cache is not None else None
    if judged is None:
        parsed = k8s_parser.parse_wire(obj, "admission", containers)
        if parsed is None:
            return None
        judged = _evaluate(parsed, owner, matrix, policy, deadline, clock)
        if cache is not None:
            cache.put(key, judged)
    pod_name = _pod_name(meta.namespace, meta.name or meta.generateName)
    return _decide(uid, operation, mode, judged, bool(request.dryRun), pod_name)


def _judge(
    pod: dict[str, Any],
    owner: tuple[str, str] | None,
    matrix: matrix_mod.Matrix,
    policy: policy_mod.Policy,
    deadline: float | None,
    clock: Callable[[], float],
) -> Judgement:
    parsed = model.ParseResult()
    k8s_parser.parse(pod, "admission", parsed)
    return _evaluate(parsed, owner, matrix, policy, deadline, clock)


def _evaluate(
    parsed: model.ParseResult,
    owner: tuple[str, str] | None,
    matrix: matrix_mod.Matrix,
    policy: policy_mod.Policy,
    deadline: float | None,
    clock: Callable[[], float],
) -> Judgement:
    evaluated: list[model.WorkloadResult] = []
    for w in parsed.workloads:
        if owner is not None:
            # policy selectors (names, kinds) see the workload, as in `check` and the scanner
            w = msgspec.structs.replace(w, kind=owner[0], name=owner[1])
        if deadline is not None and clock() > deadline:
            raise DeadlineExceeded(
                f"evaluated {len(evaluated)} of {len(parsed.workloads)} containers"
            )
        evaluated.append(evaluator.evaluate(w, matrix, policy))
    if deadline is not None and clock() > deadline:
        raise DeadlineExceeded("evaluation finished after the deadline")
    return Judgement.of(tuple(evaluated), tuple(parsed.errors))


def _decide(
    uid: str, operation: str, mode: Mode, judged: Judgement, dry_run: bool, pod_name: str
) -> Outcome:
    failing, warnings = judged.failing, judged.warnings

    def outcome(body: AdmissionReview, decision: Decision) -> Outcome:
        return Outcome(
            body,
            "dry_run" if dry_run and decision == "denied" else decision,
            operation,
            mode,
            judged.results,
            judged.errors,
            judged.findings,
        )

    if not failing:
        if judged.all_exempt:
            return outcome(_review(uid, True), "exempt")
        if warnings and mode != "audit":
            return outcome(
                _review(uid, True, warnings=_bounded(["ddcompat: " + w for w in warnings])),
                "warned",
            )
        return outcome(_review(uid, True), "allowed")
    if mode == "audit":
        return outcome(_review(uid, True), "audited")
    if mode == "warn":
        return outcome(
            _review(uid, True, warnings=_bounded(["ddcompat: " + w for w in failing + warnings])),
            "warned",
        )
    message = _short(
        f"ddcompat: pod {pod_name} uses Application Security features its tracer/runtime "
        f"does not support: " + "; ".join(failing),
        MAX_MESSAGE_LEN,
    )
    extra: dict[str, Any] = {"status": {"code": 403, "reason": "Forbidden", "message": message}}
    if warnings:
        extra["warnings"] = _bounded(["ddcompat: " + w for w in warnings])
    return outcome(_review(uid, False, **extra), "denied")


def failure_response(body: Any, *, allow: bool, why: str, mode: Mode) -> Outcome:
    """The answer when evaluation could not finish (deadline): per the failure mode."""
    request = parse_request(body)
    uid, operation = request["uid"], request["operation"]
    warning = f"ddcompat: {why}; {'admitted' if allow else 'rejected'} per the failure mode"
    if allow:
        return Outcome(_review(uid, True, warnings=[warning]), "allowed", operation, mode)
    status: Status = {"code": 403, "reason": "Forbidden", "message": warning}
    return Outcome(_review(uid, False, status=status), "denied", operation, mode)
