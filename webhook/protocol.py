"""AdmissionReview (admission.k8s.io/v1) protocol logic, apart from any HTTP adapter.

``review(body, ...)`` takes the decoded JSON of a request and returns the response
body. A policy violation is a normal, well-formed response with ``allowed: false``; a
request that is not a valid AdmissionReview raises :class:`AdmissionError` carrying the
HTTP status the adapter should answer with (4xx, never 5xx).
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Callable, Hashable
from typing import Any, Literal, NotRequired, TypedDict

import msgspec
import orjson

from ddcompat.shared import cache as cache_mod
from ddcompat.shared import evaluator, model, signals
from ddcompat.shared import judge as judge_mod
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod
from ddcompat.shared.facts.image import ImageSource
from ddcompat.shared.images import inspector
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
    """Evaluation ran past its deadline; the caller answers per its failure mode (the
    review sets ``uid`` and ``operation`` to answer with)."""

    uid: str = ""
    operation: str = ""
    kind: str = "Pod"
    # the failing findings of the containers judged before the deadline: a finding made
    # is a finding, so enforce denies with them instead of following the failure mode
    failing: tuple[str, ...] = ()


class AdmissionError(Exception):
    """A request that is not a usable AdmissionReview; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# (apiVersion, kind, namespace, name, uid): what an Event about a judged workload names
Target = tuple[str, str, str, str, str | None]


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
    kind: str = "Pod"  # the kind judged (Pod, Deployment, ...; "other")
    # the workload object judged (apiVersion, kind, namespace, name, uid), None for Pods
    target: Target | None = None


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
            sources=[ImageSource(images)] if images is not None else [],
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

    @property
    def evaluator(self) -> evaluator.Evaluator:
        return self.core.evaluator

    def want(self, key: tuple[str, str, str]) -> None:
        """Queue what a source needs read (bounded: past it, asked for again later)."""
        if len(self.image_misses) < MAX_IMAGE_QUEUE:
            self.image_misses[key] = None


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


# --- Decoding: one reader of AdmissionReviews ----------------------------------------
#
# A Pod review is ~15-20 KB of which a judgement reads a few hundred bytes (metadata,
# container names, images, env); msgspec decodes only that (managedFields, probes,
# volumes and oldObject are skipped in C), keeping each container's env raw so that the
# reader reads it once per distinct content. A review outside that plain shape is parsed
# in full and checked field by field (a 400 naming the field of a bad envelope; a Pod
# field that cannot be read becomes a finding); both end in the same Request.


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
    oldObject: k8s_parser.WireObject[msgspec.Raw] | None = None
    dryRun: bool | None = None


class WireReview(msgspec.Struct, gc=False):
    apiVersion: str
    kind: str
    request: WireRequest


_REVIEW_DECODER = msgspec.json.Decoder(WireReview)
_KEY_ENCODER = msgspec.json.Encoder(order="deterministic")


class Request(msgspec.Struct, gc=False):
    """What a judgement reads of one AdmissionReview, however it was decoded."""

    uid: str
    operation: str
    judged: bool  # a CREATE/UPDATE of a judged kind with an object: ours to judge
    kind: str = "Pod"  # the request's kind (a metric label from a fixed set)
    namespace: str | None = None
    name: str | None = None
    dry_run: bool = False
    object: k8s_parser.WireObject[Any] | None = None
    # each container's key, when decoded with the review (plain Pods)
    containers: list[k8s_parser.ContainerKey] | None = None
    # a Pod field that could not be read (judged as a finding)
    problem: model.InputError | None = None
    # an UPDATE that changes nothing a judgement reads of the spec (metadata, finalizer
    # removal, a Pod being deleted): never judged, never denied
    unchanged: bool = False


# What this webhook judges: Pods, and the workloads whose pod templates make them (so
# `kubectl apply` of a noncompliant Deployment fails where the user sees it), by
# (API group, kind).
JUDGED_KINDS = frozenset(
    {
        ("", "Pod"),
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("argoproj.io", "Rollout"),
    }
)
# Labels the controllers add to the Pods they make: not part of what a judgement of a
# template and of its Pods share (the decision cache key).
CONTROLLER_LABELS = frozenset(
    {
        "pod-template-hash",
        "controller-revision-hash",
        "pod-template-generation",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "rollouts-pod-template-hash",
    }
)


def _ours(kind: object, group: object, operation: str, obj: object) -> bool:
    """A CREATE or UPDATE with an object of a judged kind: what this webhook judges."""
    return (
        operation in ("CREATE", "UPDATE")
        and obj is not None
        and isinstance(kind, str)
        and isinstance(group, str)
        and (group, kind) in JUDGED_KINDS
    )


def decode_review(body: bytes | Any, reader: k8s_parser.Reader) -> Request:
    """The Request of a review given as raw JSON or as parsed JSON; AdmissionError (400)
    names what makes it unusable."""
    if isinstance(body, bytes | bytearray | memoryview):
        typed = _decode_plain(bytes(body), reader)
        if typed is not None:
            return typed
        body = decode_body(bytes(body))
    return _decode_parsed(body)


def _decode_parsed(body: Any) -> Request:
    """The Request of a parsed review, checked field by field."""
    request = parse_request(body)
    kind = request["kind"]
    operation = request["operation"]
    out = Request(
        uid=request["uid"],
        operation=operation,
        judged=_ours(kind.get("kind"), kind.get("group", ""), operation, request.get("object")),
        kind=_kind_label(kind.get("kind")),
        namespace=request.get("namespace"),
        name=request.get("name"),
        dry_run=bool(request.get("dryRun")),
    )
    if not out.judged:
        return out
    if operation == "UPDATE" and _unchanged_parsed(
        request.get("object"), request.get("oldObject"), str(kind.get("kind"))
    ):
        out.unchanged = True
        return out
    pod = dict(request.get("object") or {})
    pod.setdefault("kind", kind.get("kind"))
    pod.setdefault("apiVersion", _api_version(kind))
    for field in ("kind", "apiVersion"):
        if not isinstance(pod[field], str):
            raise AdmissionError(400, f"request.object.{field} is not a string")
    if k8s_parser.template_path(pod["apiVersion"], pod["kind"]) is k8s_parser.NOT_A_WORKLOAD:
        out.object = k8s_parser.WireObject()  # nothing in it to judge
        return out
    meta = pod.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        # (the API server always sends an object: this review was not made by it)
        raise AdmissionError(400, "request.object.metadata is not an object")
    if meta is None or isinstance(meta, dict):
        meta = pod["metadata"] = dict(meta or {})
        if not meta.get("namespace") and out.namespace:
            meta["namespace"] = out.namespace
        if not meta.get("name") and not meta.get("generateName"):
            meta["name"] = out.name or "(unnamed)"
    try:
        out.object = k8s_parser.to_wire(pod)
    except k8s_parser.DocumentError as exc:
        out.problem = model.InputError("admission", str(exc), exc.field)
        if isinstance(meta, dict):  # the answer still names the pod, as a plain review does
            name = meta.get("name") or meta.get("generateName")
            out.namespace = (
                meta.get("namespace") if isinstance(meta.get("namespace"), str) else None
            )
            out.name = name if isinstance(name, str) else out.name
    return out


def _decode_plain(raw: bytes, reader: k8s_parser.Reader) -> Request | None:
    """The Request of a review in the plain shape, or None (the caller parses it)."""
    try:
        wire = _REVIEW_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    request = wire.request
    if wire.apiVersion != API_VERSION or wire.kind != "AdmissionReview" or not request.uid:
        return None
    obj, kind, operation = request.object, request.kind, request.operation
    out = Request(
        uid=request.uid,
        operation=operation,
        judged=_ours(kind.kind, kind.group, operation, obj),
        kind=_kind_label(kind.kind),
        namespace=request.namespace,
        name=request.name,
        dry_run=bool(request.dryRun),
    )
    if not out.judged:
        return out
    assert obj is not None
    if operation == "UPDATE" and _unchanged_wire(obj, request.oldObject):
        out.unchanged = True
        return out
    meta = obj.metadata
    if obj.kind is None or obj.apiVersion is None or meta is None:
        return None  # (told apart from a null in the parsed review)
    if not meta.namespace and request.namespace:
        meta.namespace = request.namespace
    if not meta.name and not meta.generateName:
        meta.name = request.name or "(unnamed)"
    spec = obj.spec
    if obj.kind == "Pod" and spec is not None and spec.containers is not None:
        try:
            out.containers = [reader.admission_container(c) for c in spec.containers]
        except k8s_parser.Irregular:
            return None
    elif obj.kind != "Pod":
        template = _template_wire(obj)
        if template is not None and template.spec is not None and template.spec.containers:
            try:  # (env outside the plain shape: the parsed review is read instead)
                for c in template.spec.containers:
                    reader.admission_container(c)
            except k8s_parser.Irregular:
                return None
    out.object = obj
    return out


_KIND_LABELS = frozenset(kind for _, kind in JUDGED_KINDS)


def _kind_label(kind: object) -> str:
    return kind if isinstance(kind, str) and kind in _KIND_LABELS else "other"


def _template_wire(obj: k8s_parser.WireObject[Any]) -> Any:
    """A workload's pod template (typed), or None."""
    path = k8s_parser.TEMPLATE_PATHS.get(obj.kind or "")
    node: Any = obj
    for part in path or ():
        node = getattr(node, part, None)
        if node is None:
            return None
    return node


def _unchanged_wire(
    new: k8s_parser.WireObject[Any], old: k8s_parser.WireObject[Any] | None
) -> bool:
    """An UPDATE of an object being deleted; of a workload whose pod template is as
    before (a scale, a label or annotation outside the template); or of a Pod whose judged
    spec fields (containers' names, images and environments, init images, node selection)
    are as before."""
    if new.metadata is not None and new.metadata.deletionTimestamp:
        return True
    if old is None:
        return False
    if new.kind != "Pod":
        template = _template_wire(new)
        return template is not None and bool(template == _template_wire(old))
    a, b = new.spec, old.spec
    if a is None or b is None:
        return a is b

    def containers(cs: list[k8s_parser.WireContainer[Any]] | None) -> list[Any]:
        return [(c.name, c.image, None if c.env is None else bytes(c.env)) for c in cs or ()]

    return (
        containers(a.containers) == containers(b.containers)
        and [c.image for c in a.initContainers or ()] == [c.image for c in b.initContainers or ()]
        and a.nodeSelector == b.nodeSelector
        and a.affinity == b.affinity
    )


def _template_parsed(obj: dict[str, Any], kind: str) -> Any:
    node: Any = obj
    for part in k8s_parser.TEMPLATE_PATHS.get(kind) or ():
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _unchanged_parsed(new: Any, old: Any, kind: str = "Pod") -> bool:
    """:func:`_unchanged_wire` of a review parsed in full (any shape)."""
    if not isinstance(new, dict):
        return False
    meta = new.get("metadata")
    if isinstance(meta, dict) and meta.get("deletionTimestamp"):
        return True
    if not isinstance(old, dict):
        return False
    if kind != "Pod":
        template = _template_parsed(new, kind)
        return template is not None and template == _template_parsed(old, kind)
    a, b = new.get("spec"), old.get("spec")
    if not isinstance(a, dict) or not isinstance(b, dict):
        return False

    def containers(spec: dict[str, Any]) -> list[Any]:
        cs = spec.get("containers")
        return [
            (c.get("name"), c.get("image"), c.get("env")) if isinstance(c, dict) else c
            for c in (cs if isinstance(cs, list) else [cs])
        ]

    def inits(spec: dict[str, Any]) -> list[Any]:
        cs = spec.get("initContainers")
        return (
            [c.get("image") if isinstance(c, dict) else c for c in cs or ()]
            if isinstance(cs, list)
            else [cs]
        )

    return (
        containers(a) == containers(b)
        and inits(a) == inits(b)
        and a.get("nodeSelector") == b.get("nodeSelector")
        and a.get("affinity") == b.get("affinity")
    )


def _api_version(kind: Any) -> str:
    group, version = kind.get("group") or "", kind.get("version") or "v1"
    return f"{group}/{version}" if group else str(version)


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


def review(
    body: bytes | Any,
    *,
    judge: Judge,
    mode: Mode,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Decide one AdmissionReview, given as raw JSON or parsed. Raises AdmissionError
    for malformed requests, and DeadlineExceeded when ``clock()`` passes ``deadline``
    between steps (each step, one container's evaluation, is short and bounded)."""
    request = decode_review(body, judge.reader)
    uid, operation = request.uid, request.operation
    obj = request.object
    if not request.judged or request.unchanged:
        # Not ours to judge (the webhook configuration should not send these), or an
        # UPDATE that changes nothing judged (metadata, finalizers, a Pod being deleted,
        # a workload scaled or relabelled outside its pod template)
        return Outcome(_review(uid, True), "skipped", operation, mode, kind=request.kind)
    meta = obj.metadata if obj is not None else None
    name = (meta.name or meta.generateName) if meta else request.name
    owner = _workload(k8s_parser.wire_controller(meta), meta.labels) if meta else None
    if owner is None and obj is not None and obj.kind and obj.kind != "Pod" and name:
        owner = (obj.kind, name)  # a workload is its own workload
    try:
        judged = _judged(request, owner, judge, deadline, clock)
    except DeadlineExceeded as exc:
        exc.uid, exc.operation, exc.kind = uid, operation, request.kind
        raise
    subject = (
        f"{(obj.kind if obj is not None and obj.kind else request.kind).lower()} "
        + _pod_name(meta.namespace if meta else request.namespace, name)
    )
    target: Target | None = None
    namespace = (meta.namespace if meta else None) or request.namespace
    if (
        obj is not None
        and obj.kind
        and obj.kind != "Pod"
        and obj.apiVersion
        and name
        and namespace
        and not request.dry_run  # (no side effects on dry runs: no Event target)
    ):
        target = (obj.apiVersion, obj.kind, namespace, name, meta.uid if meta else None)
    return _decide(uid, operation, mode, judged, request.dry_run, subject, request.kind, target)


def _judged(
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
        template = _template_wire(obj)
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


def _decide(
    uid: str,
    operation: str,
    mode: Mode,
    judged: Judgement,
    dry_run: bool,
    subject: str,
    kind: str = "Pod",
    target: Target | None = None,
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
            kind,
            target,
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
        f"ddcompat: {subject} uses Application Security features its tracer/runtime "
        f"does not support: " + "; ".join(failing),
        MAX_MESSAGE_LEN,
    )
    extra: dict[str, Any] = {"status": {"code": 403, "reason": "Forbidden", "message": message}}
    if warnings:
        extra["warnings"] = _bounded(["ddcompat: " + w for w in warnings])
    return outcome(_review(uid, False, **extra), "denied")


def failure_response(exc: DeadlineExceeded, *, allow: bool, why: str, mode: Mode) -> Outcome:
    """The answer when evaluation could not finish (deadline): per the failure mode,
    unless what was judged before the deadline already fails (enforce denies with it:
    slow work never turns a denial into an admission)."""
    uid, operation = exc.uid, exc.operation
    kind = exc.kind
    if exc.failing and mode == "enforce":
        message = _short(
            f"ddcompat: uses Application Security features its tracer/runtime does not "
            f"support: {'; '.join(exc.failing)} ({why}; the rest was not judged)",
            MAX_MESSAGE_LEN,
        )
        status_: Status = {"code": 403, "reason": "Forbidden", "message": message}
        return Outcome(_review(uid, False, status=status_), "denied", operation, mode, kind=kind)
    warning = f"ddcompat: {why}; {'admitted' if allow else 'rejected'} per the failure mode"
    if allow:
        return Outcome(
            _review(uid, True, warnings=[warning]), "allowed", operation, mode, kind=kind
        )
    status: Status = {"code": 403, "reason": "Forbidden", "message": warning}
    return Outcome(_review(uid, False, status=status), "denied", operation, mode, kind=kind)
