"""Plain data shared by the parsers, the evaluator and every front end."""

from __future__ import annotations

from typing import Literal, get_args

import msgspec

FeatureId = Literal[
    "threat_detection",
    "threat_protection",
    "custom_blocking_response",
    "sca",
    "code_security",
    "user_activity_tracking",
    "api_security",
    "exploit_prevention",
    "account_takeover_protection",
]
FEATURES: tuple[FeatureId, ...] = get_args(FeatureId)

DeploymentType = Literal["kubernetes", "docker", "ecs", "fargate", "lambda"]
DEPLOYMENT_TYPES: tuple[DeploymentType, ...] = get_args(DeploymentType)

Status = Literal["supported", "unsupported", "unknown", "preview"]

# A reason code: one of the rows of :mod:`ddcompat.shared.codes` (checked where codes
# come from files: policy and matrix schemas).
Code = str


Severity = Literal["error", "warning", "info"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2}

# What a finding does to the feature's status, worst first.
Effect = Literal["unsupported", "unknown", "preview", "none"]
EFFECT_RANK: dict[str, int] = {"none": 0, "preview": 1, "unknown": 2, "unsupported": 3}
# the worse of two statuses of a feature (the scanner merges pods and templates by it)
STATUS_RANK: dict[str, int] = {"supported": 0, "preview": 1, "unknown": 2, "unsupported": 3}
EFFECT_STATUS: dict[str, Status] = {
    "none": "supported",
    "preview": "preview",
    "unknown": "unknown",
    "unsupported": "unsupported",
}


# The value types below are immutable and never part of a reference cycle: gc=False
# keeps them out of the cyclic collector (smaller, and cheaper to make by the million).


# part of memo keys for every workload: hashed once (cache_hash)
class Platform(msgspec.Struct, frozen=True, cache_hash=True, gc=False):
    os: str | None = None
    # Several architectures when a workload may land on any of them.
    arch: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.os is None:
            return ""
        if not self.arch:
            return self.os
        return f"{self.os}/{'|'.join(self.arch)}"


# Where a fact came from, in the report's words (facts_source).
FactSource = Literal[
    "annotation",
    "library_injection",
    "lambda_layer",
    "lambda_runtime",
    "lambda_architectures",
    "image_tag",
    "image_config",
    "image_layers",
    "dockerfile",
    "lockfile",
    "env",
    "node_selection",
    "node",
    "ecs_runtime_platform",
    "compose_platform",
    "build",
    "default",
]


class FactSources(msgspec.Struct, frozen=True, cache_hash=True, gc=False):
    """Where each of a container's facts came from (None: not known)."""

    ddtrace: FactSource | None = None
    python: FactSource | None = None
    platform: FactSource | None = None


NO_SOURCES = FactSources()


class Facts(msgspec.Struct, frozen=True, cache_hash=True, gc=False):
    """What is known about one container's runtime; hashable so results can be cached
    (Facts key the evaluator's memos: their hash is taken once)."""

    deployment_type: DeploymentType
    ddtrace: str | None = None
    python: str | None = None
    platform: Platform = Platform()
    features: frozenset[str] = frozenset()
    # name -> version or range (lower-case names)
    frameworks: tuple[tuple[str, str], ...] | None = None
    remote_config: bool | None = None
    # the feature switches (environment variables of signals.ENV_SWITCHES) that are set
    settings: frozenset[str] = frozenset()
    # switch variables set to a false value (a capability on by default turned off)
    switched_off: frozenset[str] = frozenset()
    sources: FactSources = NO_SOURCES
    # the Python a Datadog Lambda layer is built for (Datadog-Python312 -> "3.12"), and
    # the layer's version (the datadog-lambda release)
    layer_python: str | None = None
    lambda_layer: int | None = None


class WorkloadContainer(msgspec.Struct, frozen=True, gc=False):
    """One container of one workload, as read from a descriptor."""

    source: str
    kind: str
    namespace: str | None
    name: str
    container: str
    facts: Facts
    labels: tuple[tuple[str, str], ...] = ()
    exempt: str | None = None
    # the container's image reference, as written (what the image inspector reads)
    image: str | None = None

    @property
    def deployment_type(self) -> DeploymentType:
        return self.facts.deployment_type

    @property
    def id(self) -> str:
        return "/".join(
            (self.deployment_type, self.kind, self.namespace or "-", self.name, self.container)
        )


# findings key memos of per-feature results: hashed once
class Finding(msgspec.Struct, frozen=True, cache_hash=True, gc=False):
    code: Code
    effect: Effect
    message: str
    required: str | None = None
    observed: str | None = None


class Reason(msgspec.Struct, frozen=True, gc=False):
    code: Code
    severity: Severity
    message: str
    required: str | None = None
    observed: str | None = None


class FeatureResult(msgspec.Struct, frozen=True, gc=False):
    status: Status
    reasons: tuple[Reason, ...]
    required_by_policy: bool = False
    # judged because the tracer turns it on by default (findings at most warnings)
    by_default: bool = False


def max_severity(features: dict[str, FeatureResult]) -> Severity | None:
    """The most severe reason over all features, or None."""
    best: Severity | None = None
    for fr in features.values():
        for r in fr.reasons:
            if best is None or SEVERITY_RANK[r.severity] > SEVERITY_RANK[best]:
                best = r.severity
    return best


ExemptSource = Literal["annotation", "policy"]
# What a workload comes to (README "Verdicts"): exempt; noncompliant (a finding at or above
# the run's --fail-on); unverified (none, but a feature could not be decided); compliant.
Verdict = Literal["compliant", "noncompliant", "unverified", "exempt"]
VERDICTS: tuple[Verdict, ...] = ("compliant", "noncompliant", "unverified", "exempt")


class WorkloadResult(msgspec.Struct, frozen=True, gc=False):
    workload: WorkloadContainer
    features: dict[str, FeatureResult]
    not_checked: tuple[str, ...]
    exempt: str | None
    # max_severity(features); the evaluator computes it once for results it shares.
    max_severity: Severity | None
    # where the exemption came from: "annotation" (ddcompat.io/exempt) or "policy"
    exempt_source: ExemptSource | None = None
    # a ddcompat.io/exempt annotation the policy does not allow here (judged as usual)
    exempt_refused: bool = False

    @property
    def compliant(self) -> bool:
        return self.max_severity != "error"

    def fails_at(self, level: Severity) -> bool:
        """True when a finding at or above ``level`` counts against this workload."""
        if self.exempt is not None:
            return False
        sev = self.max_severity
        return sev is not None and SEVERITY_RANK[sev] >= SEVERITY_RANK[level]

    @property
    def unverified(self) -> bool:
        """Some feature it turns on could not be decided (its status is ``unknown``); a
        capability judged only because the tracer turns it on by default is left out."""
        return any(fr.status == "unknown" and not fr.by_default for fr in self.features.values())

    def verdict(self, fail_on: Severity = "error") -> Verdict:
        """The workload's verdict when findings at or above ``fail_on`` fail it."""
        if self.exempt is not None:
            return "exempt"
        if self.fails_at(fail_on):
            return "noncompliant"
        return "unverified" if self.unverified else "compliant"


class InputError(msgspec.Struct, frozen=True, gc=False):
    """A file or document that could not be read; reported, never fatal to the run."""

    source: str
    message: str
    field: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}: {self.field}" if self.field else self.source
        return f"{where}: {self.message}"


class NotPython(msgspec.Struct, frozen=True, gc=False):
    """A container not judged because it clearly runs another language (its image, its
    Lambda runtime or the tracer its environment loads), and why."""

    source: str
    kind: str
    namespace: str | None
    name: str
    container: str
    language: str
    reason: str


class IgnoredFile(msgspec.Struct, frozen=True, gc=False):
    """A file a directory walk found and did not read as a descriptor, and why."""

    path: str
    reason: str


class NotUnderstood(msgspec.Struct, frozen=True, gc=False):
    """An object with containers of a kind ddcompat does not read (named, never dropped
    without a word)."""

    source: str
    kind: str
    api_version: str | None
    name: str | None
    field: str | None
    reason: str


class BuildLink(msgspec.Struct, frozen=True, gc=False):
    """A build file names the image a Dockerfile makes (a compose service with ``image``
    and ``build``, a skaffold artifact): what that Dockerfile says of the image."""

    image: str  # the repository, without tag or digest
    source: str  # the file that names the link
    dockerfile: str
    ddtrace: str | None = None
    python: str | None = None
    frameworks: tuple[tuple[str, str], ...] | None = None


class ParseResult(msgspec.Struct):
    workloads: list[WorkloadContainer] = msgspec.field(default_factory=list)
    errors: list[InputError] = msgspec.field(default_factory=list)
    # containers of another language (also counted in skipped_containers)
    not_python: list[NotPython] = msgspec.field(default_factory=list)
    skipped_containers: int = 0
    ignored_files: list[IgnoredFile] = msgspec.field(default_factory=list)
    # facts left unknown in a descriptor that is otherwise read (never an exit-2 error)
    warnings: list[InputError] = msgspec.field(default_factory=list)
    kinds_not_understood: list[NotUnderstood] = msgspec.field(default_factory=list)
    # Dockerfiles read through a compose file's build context (resolved paths).
    built_dockerfiles: set[str] = msgspec.field(default_factory=set)
    # images the walk's build files say how to build
    build_links: list[BuildLink] = msgspec.field(default_factory=list)

    def extend(self, other: ParseResult) -> None:
        self.built_dockerfiles |= other.built_dockerfiles
        self.build_links.extend(other.build_links)
        self.workloads.extend(other.workloads)
        self.errors.extend(other.errors)
        self.not_python.extend(other.not_python)
        self.skipped_containers += other.skipped_containers
        self.ignored_files.extend(other.ignored_files)
        self.warnings.extend(other.warnings)
        self.kinds_not_understood.extend(other.kinds_not_understood)
