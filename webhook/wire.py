"""The AdmissionReview (admission.k8s.io/v1) wire types, declared once: what the API
server sends (decoded by :mod:`.decode`) and what the webhook answers (built by
:mod:`.respond`)."""

from __future__ import annotations

from typing import Any, Generic, Literal, NotRequired, TypedDict

import msgspec

from ddcompat.shared.parsers import kubernetes as k8s_parser
from ddcompat.shared.parsers.kubernetes import EnvT

API_VERSION = "admission.k8s.io/v1"


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


# What the plain shape of a review decodes to (msgspec: the rest of the review is skipped)


class WireGroupVersionKind(msgspec.Struct, gc=False):
    group: str = ""
    version: str = ""
    kind: str = ""


class WireRequest(msgspec.Struct, Generic[EnvT], gc=False):
    """A review's request: containers' environments raw (``msgspec.Raw``) as the plain
    shape is decoded, or as structs when converted from a parsed review."""

    uid: str
    kind: WireGroupVersionKind
    operation: str
    namespace: str | None = None
    name: str | None = None
    object: k8s_parser.WireObject[EnvT] | None = None
    oldObject: k8s_parser.WireObject[EnvT] | None = None
    dryRun: bool | None = None


class WireReview(msgspec.Struct, Generic[EnvT], gc=False):
    apiVersion: str
    kind: str
    request: WireRequest[EnvT]
