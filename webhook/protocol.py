"""AdmissionReview (admission.k8s.io/v1) protocol logic, apart from any HTTP adapter.

``review(body, ...)`` takes a request body (raw or parsed JSON) and returns the answer. A
policy violation is a normal, well-formed response with ``allowed: false``; a request that
is not a valid AdmissionReview raises :class:`AdmissionError` carrying the HTTP status the
adapter should answer with (4xx, never 5xx). By concern: :mod:`.wire` (the wire types),
:mod:`.decode` (one reader of reviews), :mod:`.decide` (judging, the decision cache) and
:mod:`.respond` (the answers); this module puts them together.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ddcompat.shared.parsers import kubernetes as k8s_parser
from ddcompat.webhook.decide import (
    DeadlineExceeded,
    Judge,
    Judgement,
    judge_request,
    owner_of,
    workload_of,
)
from ddcompat.webhook.decode import AdmissionError, Request, decode_review
from ddcompat.webhook.respond import (
    MAX_MESSAGE_LEN,
    MAX_WARNING_LEN,
    MAX_WARNINGS,
    MODES,
    Decision,
    Mode,
    Outcome,
    Target,
    answer,
    answer_review,
    failure_response,
    pod_name,
)
from ddcompat.webhook.wire import API_VERSION, AdmissionReview

__all__ = [
    "API_VERSION",
    "MAX_MESSAGE_LEN",
    "MAX_WARNINGS",
    "MAX_WARNING_LEN",
    "MODES",
    "AdmissionError",
    "AdmissionReview",
    "DeadlineExceeded",
    "Decision",
    "Judge",
    "Judgement",
    "Mode",
    "Outcome",
    "Request",
    "Target",
    "failure_response",
    "review",
    "workload_of",
]


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
        return Outcome(answer_review(uid, True), "skipped", operation, mode, kind=request.kind)
    meta = obj.metadata if obj is not None else None
    name = (meta.name or meta.generateName) if meta else request.name
    owner = owner_of(k8s_parser.wire_controller(meta), meta.labels) if meta else None
    if owner is None and obj is not None and obj.kind and obj.kind != "Pod" and name:
        owner = (obj.kind, name)  # a workload is its own workload
    try:
        judged = judge_request(request, owner, judge, deadline, clock)
    except DeadlineExceeded as exc:
        exc.uid, exc.operation, exc.kind = uid, operation, request.kind
        raise
    kind = obj.kind if obj is not None and obj.kind else request.kind
    subject = f"{kind.lower()} " + pod_name(meta.namespace if meta else request.namespace, name)
    target = _target(request, name)
    return answer(uid, operation, mode, judged, request.dry_run, subject, request.kind, target)


def _target(request: Request, name: str | None) -> Target | None:
    """The workload object an Event about this review would name; None for a Pod, and on
    dry runs (no side effects)."""
    obj = request.object
    meta = obj.metadata if obj is not None else None
    namespace = (meta.namespace if meta else None) or request.namespace
    if (
        obj is None
        or not obj.kind
        or obj.kind == "Pod"
        or not obj.apiVersion
        or not name
        or not namespace
        or request.dry_run
    ):
        return None
    return (obj.apiVersion, obj.kind, namespace, name, meta.uid if meta else None)
