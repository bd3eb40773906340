"""Kubernetes manifests: Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job, CronJob, PodTemplate and List (also Helm-rendered output)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ddcompat.shared import model, signals
from ddcompat.shared.parsers import _common
from ddcompat.shared.parsers._common import DocumentError

# kind -> path from the object to its pod template (None: the object is the pod)
TEMPLATE_PATHS: dict[str, tuple[str, ...] | None] = {
    "Pod": None,
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "PodTemplate": ("template",),
    # Common workload CRDs that embed a plain pod template.
    "Rollout": ("spec", "template"),  # Argo Rollouts
    "DeploymentConfig": ("spec", "template"),  # OpenShift
}
OS_KEYS = ("kubernetes.io/os", "beta.kubernetes.io/os")
ARCH_KEYS = ("kubernetes.io/arch", "beta.kubernetes.io/arch")


def matches(doc: Mapping[str, Any]) -> bool:
    return isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str)


def _affinity_values(
    affinity: Mapping[str, Any], keys: tuple[str, ...], field: str
) -> set[str] | None:
    """Values allowed by required node affinity for ``keys``; None if unconstrained.

    Terms are ORed: the set is the union over terms, and any term without a constraint
    on the key leaves it unconstrained.
    """
    node = _common.mapping(affinity.get("nodeAffinity"), f"{field}.nodeAffinity")
    req = _common.mapping(
        node.get("requiredDuringSchedulingIgnoredDuringExecution"),
        f"{field}.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
    )
    terms = _common.sequence(req.get("nodeSelectorTerms"), f"{field}...nodeSelectorTerms")
    if not terms:
        return None
    allowed: set[str] = set()
    for i, term in enumerate(terms):
        tf = f"{field}...nodeSelectorTerms[{i}]"
        exprs = _common.sequence(_common.mapping(term, tf).get("matchExpressions"), tf)
        found = False
        for j, expr in enumerate(exprs):
            e = _common.mapping(expr, f"{tf}.matchExpressions[{j}]")
            if e.get("key") in keys and e.get("operator") == "In":
                vals = _common.sequence(e.get("values"), f"{tf}.matchExpressions[{j}].values")
                allowed.update(str(v) for v in vals)
                found = True
        if not found:
            return None
    return allowed


def platform_of(spec: Mapping[str, Any], field: str) -> model.Platform:
    selector = _common.str_map(spec.get("nodeSelector"), f"{field}.nodeSelector")
    affinity = _common.mapping(spec.get("affinity"), f"{field}.affinity")
    os_value = next((selector[k] for k in OS_KEYS if k in selector), None)
    oses = {os_value} if os_value else _affinity_values(affinity, OS_KEYS, f"{field}.affinity")
    arch_value = next((selector[k] for k in ARCH_KEYS if k in selector), None)
    arches = (
        {arch_value} if arch_value else _affinity_values(affinity, ARCH_KEYS, f"{field}.affinity")
    )
    # Nodes are Linux unless a selector says otherwise; several OSes can't be judged as one.
    os_name = "linux"
    if oses:
        normalized = {signals.normalize_os(o) for o in oses}
        if len(normalized) > 1:
            return model.Platform(None, ())
        os_name = normalized.pop()
    arch = tuple(sorted({signals.normalize_arch(a) for a in arches})) if arches else ()
    return model.Platform(os_name, arch)


def _containers(spec: Mapping[str, Any], key: str, field: str) -> list[Mapping[str, Any]]:
    items = _common.sequence(spec.get(key), f"{field}.{key}", required=key == "containers")
    return [_common.mapping(c, f"{field}.{key}[{i}]") for i, c in enumerate(items)]


def _env(container: Mapping[str, Any], field: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, item in enumerate(_common.sequence(container.get("env"), f"{field}.env")):
        entry = _common.mapping(item, f"{field}.env[{i}]")
        name = _common.string(entry.get("name"), f"{field}.env[{i}].name", required=True)
        assert name is not None
        # valueFrom (secrets, config maps) is unknown here: such a variable is not set.
        if "value" in entry:
            value = entry.get("value")
            out[name] = "" if value is None else str(value)
    return out


def parse_object(doc: Mapping[str, Any], source: str, field: str, out: model.ParseResult) -> None:
    kind = doc.get("kind")
    if kind == "List" or (isinstance(kind, str) and kind.endswith("List") and "items" in doc):
        for i, item in enumerate(_common.sequence(doc.get("items"), f"{field}items")):
            sub = f"{field}items[{i}]."
            try:
                parse_object(_common.mapping(item, sub.rstrip(".")), source, sub, out)
            except DocumentError as exc:
                out.errors.append(model.InputError(source, str(exc), exc.field))
        return
    if kind not in TEMPLATE_PATHS:
        return  # Services, ConfigMaps ... carry no workload
    assert isinstance(kind, str)
    meta = _common.mapping(doc.get("metadata"), f"{field}metadata", required=True)
    name = _common.string(
        meta.get("name") or meta.get("generateName"), f"{field}metadata.name", required=True
    )
    assert name is not None
    namespace = _common.string(meta.get("namespace"), f"{field}metadata.namespace")
    path = TEMPLATE_PATHS[kind]
    pod: Mapping[str, Any] = doc
    pod_field = field.rstrip(".")
    if path is not None:
        for part in path:
            pod_field = f"{pod_field}.{part}" if pod_field else part
            pod = _common.mapping(pod.get(part), pod_field, required=True)
        pod_meta = _common.mapping(pod.get("metadata"), f"{pod_field}.metadata")
    else:
        pod_meta = meta
    pf = f"{pod_field}." if pod_field else ""
    spec = _common.mapping(pod.get("spec"), f"{pf}spec", required=True)
    annotations = signals.merge(
        _common.str_map(meta.get("annotations"), f"{field}metadata.annotations"),
        _common.str_map(pod_meta.get("annotations"), f"{pf}metadata.annotations"),
    )
    labels = signals.merge(
        _common.str_map(meta.get("labels"), f"{field}metadata.labels"),
        _common.str_map(pod_meta.get("labels"), f"{pf}metadata.labels"),
    )
    lib = annotations.get(signals.LIB_INJECTION_ANNOTATION) or None
    init = _containers(spec, "initContainers", f"{pf}spec")
    for c in init:
        tag = signals.ddtrace_from_init_image(
            _common.string(c.get("image"), f"{pf}spec.initContainers.image")
        )
        if tag and not lib:
            lib = tag
    containers: list[signals.ContainerInput] = []
    for i, c in enumerate(_containers(spec, "containers", f"{pf}spec")):
        cf = f"{pf}spec.containers[{i}]"
        cname = _common.string(c.get("name"), f"{cf}.name", required=True)
        assert cname is not None
        containers.append(
            signals.ContainerInput(
                name=cname,
                image=_common.string(c.get("image"), f"{cf}.image"),
                env=_env(c, cf),
            )
        )
    _common.emit(
        _common.Group(
            source=source,
            deployment_type="kubernetes",
            kind=kind,
            namespace=namespace,
            name=name,
            annotations=signals.Annotations(annotations, "metadata.annotations"),
            containers=containers,
            platform=platform_of(spec, f"{pf}spec"),
            labels=signals.label_pairs(labels),
            lib_injection=lib,
            skipped=len(init),
            default_container=annotations.get("kubectl.kubernetes.io/default-container"),
        ),
        out,
    )


def parse(doc: Mapping[str, Any], source: str, out: model.ParseResult, prefix: str = "") -> None:
    try:
        parse_object(doc, source, prefix, out)
    except DocumentError as exc:
        out.errors.append(model.InputError(source, str(exc), exc.field))
