"""Cluster-wide injection: the Datadog Agent's Single Step Instrumentation settings.

Read from the ``datadog`` Helm chart's values (``datadog.apm.instrumentation``,
``datadog.asm``) or a ``DatadogAgent`` resource (``spec.features.apm.instrumentation``,
``spec.features.asm``), named with ``check --datadog-values FILE``. As the cluster agent
applies them (DataDog/datadog-agent pkg/clusteragent/admission/mutate/autoinstrumentation,
``instrumentation.Config``): ``targets`` (the first whose ``namespaceSelector.matchNames``
and ``podSelector.matchLabels``/``matchExpressions`` match wins; none matching: not
injected), else every namespace (``enabledNamespaces`` only, or all but
``disabledNamespaces``) with ``libVersions``. The injected tracer is the target's
``ddTraceVersions.python`` (or ``libVersions.python``); ``ddTraceConfigs`` and
``datadog.asm.threats|sca|iast.enabled`` add their variables to the pod. A selector on
namespace labels cannot be judged from a workload (the namespace's labels are not in its
manifest): such a target is left aside, never guessed. A workload whose own facts say
more (a ``ddcompat.io`` annotation, its pod's ``python-lib`` annotation) keeps them: this
source ranks as ``library_injection`` in the precedence table.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import msgspec

from ddcompat.shared import model, precedence, signals


class ConfigError(ValueError):
    """The settings cannot be read; the message names the file and field."""


class Target(msgspec.Struct, frozen=True):
    name: str
    namespaces: frozenset[str] | None  # matchNames (None: any)
    labels: tuple[tuple[str, str], ...]  # podSelector.matchLabels
    expressions: tuple[tuple[str, str, frozenset[str]], ...]  # (key, operator, values)
    judgeable: bool  # False: a namespace label selector (not known from a manifest)
    python: str | None
    env: tuple[tuple[str, str], ...]


class Instrumentation(msgspec.Struct, frozen=True):
    source: str  # the file read
    enabled: bool
    enabled_namespaces: frozenset[str]
    disabled_namespaces: frozenset[str]
    python: str | None  # libVersions.python
    targets: tuple[Target, ...]
    env: tuple[tuple[str, str], ...]  # what datadog.asm turns on, for every pod

    def applies(self, namespace: str | None, labels: Mapping[str, str]) -> Target | bool | None:
        """The target that selects a pod, True when injection applies without targets,
        False when it does not apply (None: a target that cannot be judged came first)."""
        ns = namespace or "default"
        if not self.enabled or ns in self.disabled_namespaces:
            return False
        if self.enabled_namespaces and ns not in self.enabled_namespaces:
            return False
        if not self.targets:
            return True
        for t in self.targets:
            if t.namespaces is not None and ns not in t.namespaces:
                continue
            if not t.judgeable:
                return None  # it might select this pod: not known
            if all(labels.get(k) == v for k, v in t.labels) and all(
                _expression(labels, e) for e in t.expressions
            ):
                return t
        return False


def _expression(labels: Mapping[str, str], e: tuple[str, str, frozenset[str]]) -> bool:
    key, op, values = e
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False


def _map(value: Any, field: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{field}: expected a mapping, got {type(value).__name__}")
    return value


def _names(value: Any, field: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{field}: expected a list of names")
    return frozenset(value)


def _target(t: Any, field: str) -> Target:
    t = _map(t, field)
    pod = _map(t.get("podSelector"), f"{field}.podSelector")
    ns = _map(t.get("namespaceSelector"), f"{field}.namespaceSelector")
    exprs = []
    for i, e in enumerate(pod.get("matchExpressions") or []):
        e = _map(e, f"{field}.podSelector.matchExpressions[{i}]")
        exprs.append(
            (str(e.get("key")), str(e.get("operator")), frozenset(map(str, e.get("values") or [])))
        )
    versions = _map(t.get("ddTraceVersions"), f"{field}.ddTraceVersions")
    env = []
    for i, c in enumerate(t.get("ddTraceConfigs") or []):
        c = _map(c, f"{field}.ddTraceConfigs[{i}]")
        if isinstance(c.get("name"), str) and isinstance(c.get("value"), str | int | bool):
            value = c["value"]
            env.append((c["name"], str(value).lower() if isinstance(value, bool) else str(value)))
    return Target(
        name=str(t.get("name") or f"{field}"),
        namespaces=_names(ns.get("matchNames"), f"{field}.namespaceSelector.matchNames") or None,
        labels=tuple(
            sorted(
                (str(k), str(v))
                for k, v in _map(pod.get("matchLabels"), f"{field}.podSelector.matchLabels").items()
            )
        ),
        expressions=tuple(exprs),
        judgeable=not (ns.get("matchLabels") or ns.get("matchExpressions")),
        python=signals.injected_tag(versions.get("python")),
        env=tuple(env),
    )


_ASM = (
    ("threats", "DD_APPSEC_ENABLED"),
    ("sca", "DD_APPSEC_SCA_ENABLED"),
    ("iast", "DD_IAST_ENABLED"),
)


def read(doc: Any, source: str) -> Instrumentation:
    """The settings of a chart values file or a DatadogAgent resource; ConfigError names
    the file and field."""
    try:
        return _read(doc, source)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _read(doc: Any, source: str) -> Instrumentation:
    doc = _map(doc, "the top level")
    if doc.get("kind") == "DatadogAgent":
        features = _map(_map(doc.get("spec"), "spec").get("features"), "spec.features")
        inst = _map(
            _map(features.get("apm"), "spec.features.apm").get("instrumentation"),
            "spec.features.apm.instrumentation",
        )
        asm = _map(features.get("asm"), "spec.features.asm")
        where = "spec.features.apm.instrumentation"
    else:
        dd = _map(doc.get("datadog"), "datadog")
        inst = _map(
            _map(dd.get("apm"), "datadog.apm").get("instrumentation"), "datadog.apm.instrumentation"
        )
        asm = _map(dd.get("asm"), "datadog.asm")
        where = "datadog.apm.instrumentation"
    env = tuple(
        (var, "true")
        for key, var in _ASM
        if _map(asm.get(key), f"asm.{key}").get("enabled") in (True, "true")
    )
    targets = inst.get("targets") or []
    if not isinstance(targets, list):
        raise ConfigError(f"{where}.targets: expected a list")
    lib = _map(inst.get("libVersions"), f"{where}.libVersions")
    return Instrumentation(
        source=source,
        enabled=inst.get("enabled") in (True, "true"),
        enabled_namespaces=_names(inst.get("enabledNamespaces"), f"{where}.enabledNamespaces"),
        disabled_namespaces=_names(inst.get("disabledNamespaces"), f"{where}.disabledNamespaces"),
        python=signals.injected_tag(lib.get("python")),
        targets=tuple(_target(t, f"{where}.targets[{i}]") for i, t in enumerate(targets)),
        env=env,
    )


class InjectionSource:
    """Single Step Instrumentation as a source of facts (see the module docstring)."""

    name = "cluster_injection"
    writes: tuple[model.FactSource, ...] = ("library_injection",)
    tells: frozenset[precedence.Fact] = frozenset({"ddtrace"})

    __slots__ = ("settings",)

    def __init__(self, settings: Instrumentation) -> None:
        self.settings = settings

    def apply(self, w: model.WorkloadContainer) -> tuple[model.WorkloadContainer, Hashable | None]:
        if w.deployment_type != "kubernetes":
            return w, None
        chosen = self.settings.applies(w.namespace, dict(w.labels))
        if chosen is False or chosen is None:
            return w, None
        target = chosen if isinstance(chosen, Target) else None
        python = target.python if target is not None else self.settings.python
        env = dict((*self.settings.env, *(target.env if target is not None else ())))
        facts = w.facts
        reading = signals.env_switches(env) if env else None
        updates: dict[str, Any] = {}
        if reading is not None:
            updates["features"] = facts.features | reading.features
            updates["settings"] = facts.settings | reading.on
        if python and precedence.outranks("ddtrace", "library_injection", facts.sources.ddtrace):
            updates["ddtrace"] = python
            updates["sources"] = model.FactSources(
                "library_injection", facts.sources.python, facts.sources.platform
            )
        if not updates:
            return w, None
        return msgspec.structs.replace(w, facts=msgspec.structs.replace(facts, **updates)), None

    def state(self) -> Hashable:
        return self.settings
