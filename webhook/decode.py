"""Decoding AdmissionReviews: what a judgement reads of one request, however it came (the
plain shape by typed structs, anything else parsed in full and checked field by field), or
an :class:`AdmissionError` naming what makes it unusable (a 4xx, never a 5xx)."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from ddcompat.shared import model
from ddcompat.shared.parsers import kubernetes as k8s_parser
from ddcompat.webhook.wire import (
    API_VERSION,
    AdmissionRequest,
    WireGroupVersionKind,
    WireRequest,
    WireReview,
)


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


_REVIEW_DECODER = msgspec.json.Decoder(WireReview[msgspec.Raw])


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
    names what makes it unusable.

    One route: a review in the plain shape is decoded into the wire structs directly; any
    other is parsed, checked field by field and converted into the same structs
    (:func:`_converted`); both then become a Request in :func:`_request_of`."""
    if isinstance(body, bytes | bytearray | memoryview):
        raw = bytes(body)
        plain = _plain_wire(raw)
        if plain is not None:
            typed = _request_of(plain, reader)
            if typed is not None:
                return typed
        body = decode_body(raw)
    converted, problem = _converted(body)
    out = _request_of(converted, None, problem)
    assert out is not None  # (a converted review is never irregular)
    return out


def _plain_wire(raw: bytes) -> WireRequest[msgspec.Raw] | None:
    """The request of a review in the plain shape (typed decoding skips what no judgement
    reads), or None: the review is read the other way."""
    try:
        wire = _REVIEW_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    if wire.apiVersion != API_VERSION or wire.kind != "AdmissionReview" or not wire.request.uid:
        return None
    return wire.request


def _converted(body: Any) -> tuple[WireRequest[k8s_parser.EnvEntries], model.InputError | None]:
    """A parsed review of any shape, checked field by field (AdmissionError naming a bad
    envelope) and converted to the wire structs; a pod field that cannot be read is the
    problem returned (judged as a finding)."""
    request = parse_request(body)
    kind = request["kind"]
    operation = request["operation"]
    gvk = WireGroupVersionKind(
        **{k: v for k in ("group", "version", "kind") if isinstance(v := kind.get(k), str)}
    )
    wire: WireRequest[k8s_parser.EnvEntries] = WireRequest(
        uid=request["uid"],
        kind=gvk,
        operation=operation,
        namespace=_str_or_none(request.get("namespace")),
        name=_str_or_none(request.get("name")),
        dryRun=bool(request.get("dryRun")),
    )
    raw_obj = request.get("object")
    if not _ours(kind.get("kind"), kind.get("group", ""), operation, raw_obj):
        return wire, None  # (no object: not ours to judge)
    pod = dict(raw_obj or {})
    pod.setdefault("kind", kind.get("kind"))
    pod.setdefault("apiVersion", _api_version(kind))
    for field in ("kind", "apiVersion"):
        if not isinstance(pod[field], str):
            raise AdmissionError(400, f"request.object.{field} is not a string")
    meta = pod.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        # (the API server always sends an object: this review was not made by it)
        raise AdmissionError(400, "request.object.metadata is not an object")
    meta = pod["metadata"] = dict(meta or {})
    if operation == "UPDATE" and meta.get("deletionTimestamp"):
        # (a Pod being deleted is never judged, whatever else its object holds)
        wire.object = k8s_parser.WireObject(
            kind=pod["kind"], apiVersion=pod["apiVersion"], metadata=_deleting()
        )
        return wire, None
    if k8s_parser.template_path(pod["apiVersion"], pod["kind"]) is k8s_parser.NOT_A_WORKLOAD:
        wire.object = k8s_parser.WireObject(kind=pod["kind"], apiVersion=pod["apiVersion"])
        return wire, None
    if not meta.get("namespace") and wire.namespace:
        meta["namespace"] = wire.namespace
    if not meta.get("name") and not meta.get("generateName"):
        meta["name"] = wire.name or "(unnamed)"
    try:
        wire.object = k8s_parser.to_wire(pod)
    except k8s_parser.DocumentError as exc:
        # judged as a finding; the answer still names the pod, as a plain review does
        name = meta.get("name") or meta.get("generateName")
        wire.namespace = _str_or_none(meta.get("namespace"))
        wire.name = name if isinstance(name, str) else wire.name
        wire.object = k8s_parser.WireObject(kind=pod["kind"], apiVersion=pod["apiVersion"])
        return wire, model.InputError("admission", str(exc), exc.field)
    old = request.get("oldObject")
    if operation == "UPDATE" and isinstance(old, dict):
        try:  # (an old object that cannot be read: the update is judged)
            wire.oldObject = k8s_parser.to_wire(
                {"kind": pod["kind"], "apiVersion": pod["apiVersion"], **old}
            )
        except k8s_parser.DocumentError:
            wire.oldObject = None
    return wire, None


def _deleting() -> k8s_parser.WireMeta:
    meta = k8s_parser.WireMeta()
    meta.deletionTimestamp = "(deleting)"
    return meta


def _request_of(
    request: WireRequest[Any],
    reader: k8s_parser.Reader | None,
    problem: model.InputError | None = None,
) -> Request | None:
    """The Request of a review's wire structs; None when a plain-shaped review holds what
    only the other reading can take (null metadata, an environment outside the plain
    shape). ``reader``: read each container's key now (plain reviews); ``problem``: a pod
    field the conversion could not read."""
    obj, kind, operation = request.object, request.kind, request.operation
    out = Request(
        uid=request.uid,
        operation=operation,
        judged=_ours(kind.kind, kind.group, operation, obj),
        kind=_kind_label(kind.kind),
        namespace=request.namespace,
        name=request.name,
        dry_run=bool(request.dryRun),
        problem=problem,
    )
    if not out.judged or problem is not None:
        return out
    assert obj is not None
    if operation == "UPDATE" and _unchanged_wire(obj, request.oldObject):
        out.unchanged = True
        return out
    if k8s_parser.template_path(obj.apiVersion, obj.kind or "") is k8s_parser.NOT_A_WORKLOAD:
        out.object = k8s_parser.WireObject()  # nothing in it to judge
        return out
    meta = obj.metadata
    if obj.kind is None or obj.apiVersion is None or meta is None:
        return None  # (told apart from a null in the parsed review)
    if not meta.namespace and request.namespace:
        meta.namespace = request.namespace
    if not meta.name and not meta.generateName:
        meta.name = request.name or "(unnamed)"
    if reader is not None and not _keys_read(obj, reader, out):
        return None
    out.object = obj
    return out


def _keys_read(obj: k8s_parser.WireObject[Any], reader: k8s_parser.Reader, out: Request) -> bool:
    """Read each container's key of a plain review (a Pod's are kept with the Request);
    False when an environment is outside the plain shape."""
    template = obj.spec if obj.kind == "Pod" else getattr(template_of(obj), "spec", None)
    containers = template.containers if template is not None else None
    if not containers:
        return True
    try:
        keys = [reader.admission_container(c) for c in containers]
    except k8s_parser.Irregular:
        return False
    if obj.kind == "Pod":
        out.containers = keys
    return True


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


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
        # (an environment as raw JSON in a plain review, as structs in a converted one)
        return [
            (c.name, c.image, bytes(c.env) if isinstance(c.env, msgspec.Raw) else c.env)
            for c in cs or ()
        ]

    return (
        containers(a.containers) == containers(b.containers)
        and [c.image for c in a.initContainers or ()] == [c.image for c in b.initContainers or ()]
        and a.nodeSelector == b.nodeSelector
        and a.affinity == b.affinity
    )


def _api_version(kind: Any) -> str:
    group, version = kind.get("group") or "", kind.get("version") or "v1"
    return f"{group}/{version}" if group else str(version)
