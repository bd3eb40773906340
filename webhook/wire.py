"""The AdmissionReview (admission.k8s.io/v1) wire types, declared once: what the API
server sends (decoded by :mod:`.decode`) and what the webhook answers (built by
:mod:`.respond`)."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

import msgspec

from ddcompat.shared.parsers import kubernetes as k8s_parser

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
