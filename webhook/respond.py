"""The webhook's answers: an AdmissionReview response per decision and mode (a violation
is a normal answer with ``allowed: false``), bounded warnings and messages, and the answer
when the deadline passed."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from ddcompat.shared import model
from ddcompat.webhook.decide import DeadlineExceeded, Judgement
from ddcompat.webhook.wire import API_VERSION, AdmissionResponse, AdmissionReview

Mode = Literal["enforce", "warn", "audit"]
MODES: tuple[Mode, ...] = ("enforce", "warn", "audit")
Decision = Literal["allowed", "denied", "warned", "audited", "exempt", "skipped", "dry_run"]
MAX_WARNINGS = 10
MAX_WARNING_LEN = 200
MAX_MESSAGE_LEN = 4000


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


def answer_review(uid: str, allowed: bool, **extra: Any) -> AdmissionReview:
    response: AdmissionResponse = {"uid": uid, "allowed": allowed}
    response.update(extra)  # type: ignore[typeddict-item]
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _bounded(items: list[str]) -> list[str]:
    if len(items) <= MAX_WARNINGS:
        return [_short(i, MAX_WARNING_LEN) for i in items]
    head = [_short(i, MAX_WARNING_LEN) for i in items[: MAX_WARNINGS - 1]]
    return [*head, f"ddcompat: and {len(items) - len(head)} more findings"]


def pod_name(namespace: Any, name: Any) -> str:
    return f"{namespace or '-'}/{name or '-'}"


def answer(
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
            return outcome(answer_review(uid, True), "exempt")
        if warnings and mode != "audit":
            return outcome(
                answer_review(uid, True, warnings=_bounded(["ddcompat: " + w for w in warnings])),
                "warned",
            )
        return outcome(answer_review(uid, True), "allowed")
    if mode == "audit":
        return outcome(answer_review(uid, True), "audited")
    if mode == "warn":
        return outcome(
            answer_review(
                uid, True, warnings=_bounded(["ddcompat: " + w for w in failing + warnings])
            ),
            "warned",
        )
    return outcome(_forbidden(uid, _unsupported(f"{subject} ", failing), warnings), "denied")


def _unsupported(subject: str, failing: tuple[str, ...], note: str = "") -> str:
    """The message of a denial: what is not supported, bounded."""
    return _short(
        f"ddcompat: {subject}uses Application Security features its tracer/runtime does not "
        f"support: " + "; ".join(failing) + note,
        MAX_MESSAGE_LEN,
    )


def _forbidden(uid: str, message: str, warnings: tuple[str, ...] = ()) -> AdmissionReview:
    """A denial: a 403 status with ``message`` (and the bounded warnings)."""
    extra: dict[str, Any] = {"status": {"code": 403, "reason": "Forbidden", "message": message}}
    if warnings:
        extra["warnings"] = _bounded(["ddcompat: " + w for w in warnings])
    return answer_review(uid, False, **extra)


def failure_response(exc: DeadlineExceeded, *, allow: bool, why: str, mode: Mode) -> Outcome:
    """The answer when evaluation could not finish (deadline): per the failure mode,
    unless what was judged before the deadline already fails (enforce denies with it:
    slow work never turns a denial into an admission)."""
    uid, operation = exc.uid, exc.operation
    kind = exc.kind
    if exc.failing and mode == "enforce":
        message = _unsupported("", exc.failing, f" ({why}; the rest was not judged)")
        return Outcome(_forbidden(uid, message), "denied", operation, mode, kind=kind)
    warning = f"ddcompat: {why}; {'admitted' if allow else 'rejected'} per the failure mode"
    if allow:
        return Outcome(
            answer_review(uid, True, warnings=[warning]), "allowed", operation, mode, kind=kind
        )
    return Outcome(_forbidden(uid, warning), "denied", operation, mode, kind=kind)
