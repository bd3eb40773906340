"""Decoding AdmissionReviews: what a judgement reads of one request, however it came (the
plain shape by typed structs, anything else parsed in full and checked field by field), or
an :class:`AdmissionError` naming what makes it unusable (a 4xx, never a 5xx)."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from ddcompat.shared import model
from ddcompat.shared.parsers import kubernetes as k8s_parser
from ddcompat.webhook.wire import API_VERSION, AdmissionRequest, WireReview


class AdmissionError(Exception):
    """A request that is not a usable AdmissionReview; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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


# --- Decoding: one reader of AdmissionReviews ----------------------------------------
#
# A Pod review is ~15-20 KB of which a judgement reads a few hundred bytes (metadata,
# container names, images, env); msgspec decodes only that (managedFields, probes,
# volumes and oldObject are skipped in C), keeping each container's env raw so that the
# reader reads it once per distinct content. A review outside that plain shape is parsed
# in full and checked field by field (a 400 naming the field of a bad envelope; a Pod
# field that cannot be read becomes a finding); both end in the same Request.


_REVIEW_DECODER = msgspec.json.Decoder(WireReview)


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
        template = template_of(obj)
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


def template_of(obj: k8s_parser.WireObject[Any]) -> Any:
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
        template = template_of(new)
        return template is not None and bool(template == template_of(old))
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
