"""Severity policy, required features and exemptions (YAML, validated with pydantic in
:mod:`ddcompat.shared.policy_schema` into the plain classes here).

What a check finds (a reason code) is the matrix's business; how much it matters is
the policy's. Example::

    severities:
      MATRIX_NOT_COVERED: error
      PREVIEW_FEATURE: info
    require:
      - features: [threat_protection]
        namespaces: [prod]
        when_using: [threat_detection]
    exemptions:
      - namespaces: [legacy]
        names: ["batch-*"]
        reason: "retired in Q3"

``exemptions`` may also be a mapping: ``rules`` (the list above) and ``annotations``,
who may exempt a workload with its own ``ddcompat.io/exempt`` annotation: ``allow``
(the default), ``deny``, or ``{namespaces: [...]}``.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import msgspec

from ddcompat.shared import codes, model


class PolicyError(ValueError):
    pass


class _Selector(msgspec.Struct, frozen=True):
    namespaces: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    deployment_types: tuple[model.DeploymentType, ...] = ()
    match_labels: dict[str, str] = msgspec.field(default_factory=dict)

    def selects(self, w: model.WorkloadContainer) -> bool:
        if self.namespaces and not any(
            fnmatch.fnmatchcase(w.namespace or "", p) for p in self.namespaces
        ):
            return False
        if self.names and not any(fnmatch.fnmatchcase(w.name, p) for p in self.names):
            return False
        if self.kinds and w.kind not in self.kinds:
            return False
        if self.deployment_types and w.deployment_type not in self.deployment_types:
            return False
        if self.match_labels:
            labels = dict(w.labels)
            if any(labels.get(k) != v for k, v in self.match_labels.items()):
                return False
        return True


class Requirement(_Selector, frozen=True):
    features: tuple[model.FeatureId, ...] = ()
    # Only workloads that use at least one of these features (empty: all workloads).
    when_using: tuple[model.FeatureId, ...] = ()


class Exemption(_Selector, frozen=True):
    reason: str = ""
    # Only these features are exempt; empty: the whole workload.
    features: tuple[model.FeatureId, ...] = ()


class AnnotationExemptions(msgspec.Struct, frozen=True):
    """Who may exempt a workload with its own ``ddcompat.io/exempt`` annotation (anyone who
    can edit a manifest can write one): everywhere (``allow``), nowhere (``deny``), or in
    these namespaces only (globs)."""

    allow: bool = True
    namespaces: tuple[str, ...] = ()

    def allows(self, w: model.WorkloadContainer) -> bool:
        if self.allow:
            return True
        ns = w.namespace or ""
        return any(fnmatch.fnmatchcase(ns, p) for p in self.namespaces)


ALLOW_ANNOTATIONS = AnnotationExemptions()


class Policy(msgspec.Struct, frozen=True):
    severities: dict[model.Code, model.Severity | None] = msgspec.field(default_factory=dict)
    require: tuple[Requirement, ...] = ()
    exemptions: tuple[Exemption, ...] = ()
    annotation_exemptions: AnnotationExemptions = ALLOW_ANNOTATIONS

    def severity(self, code: model.Code) -> model.Severity | None:
        """The severity of a code; ``None`` means the policy drops the finding."""
        if code in self.severities:
            return self.severities[code]
        return codes.DEFAULT_SEVERITIES[code]

    def required_features(self, w: model.WorkloadContainer) -> frozenset[str]:
        out: set[str] = set()
        for req in self.require:
            if req.when_using and not (set(req.when_using) & w.facts.features):
                continue
            if req.selects(w):
                out.update(req.features)
        return frozenset(out)

    def exemption(self, w: model.WorkloadContainer) -> Exemption | None:
        for ex in self.exemptions:
            if ex.selects(w):
                return ex
        return None


DEFAULT = Policy()


def from_data(data: Any, source: str = "policy") -> Policy:
    """A policy from parsed YAML/JSON, validated; PolicyError names ``source`` and field."""
    from ddcompat.shared import policy_schema

    return policy_schema.validate(data, source)


def load(path: Path | str) -> Policy:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc.strerror or exc}") from None
    from ddcompat.shared import policy_schema

    return policy_schema.validate(policy_schema.parse_yaml(text, str(path)), str(path))
