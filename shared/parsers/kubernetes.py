"""Kubernetes manifests: Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job, CronJob, PodTemplate and List (also Helm-rendered output)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import msgspec

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


def controller_of(meta: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of an object's controller owner reference, if it has one."""
    for ref in meta.get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller"):
            return str(ref.get("kind")), str(ref.get("name"))
    return None


def matches(doc: Mapping[str, Any]) -> bool:
    return isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str)


def _affinity_values(
    affinity: Mapping[str, Any], keys: tuple[str, ...], where: str
) -> set[str] | None:
    """Values allowed by required node affinity for ``keys``; None if unconstrained.

    Terms are ORed: the set is the union over terms, and any term without a constraint
    on the key leaves it unconstrained.
    """
    node = _common.get_map(affinity, "nodeAffinity", where)
    where = _common.join(where, "nodeAffinity")
    req = _common.get_map(node, "requiredDuringSchedulingIgnoredDuringExecution", where)
    where = _common.join(where, "requiredDuringSchedulingIgnoredDuringExecution")
    terms = _common.get_list(req, "nodeSelectorTerms", where)
    if not terms:
        return None
    allowed: set[str] = set()
    for i, term in enumerate(terms):
        tf = f"{where}.nodeSelectorTerms[{i}]"
        exprs = _common.get_list(_common.mapping(term, tf), "matchExpressions", tf)
        found = False
        for j, expr in enumerate(exprs):
            ef = f"{tf}.matchExpressions[{j}]"
            e = _common.mapping(expr, ef)
            if e.get("key") in keys and e.get("operator") == "In":
                allowed.update(str(v) for v in _common.get_list(e, "values", ef))
                found = True
        if not found:
            return None
    return allowed


def platform_of(spec: Mapping[str, Any], where: str) -> model.Platform:
    if "nodeSelector" not in spec and "affinity" not in spec:
        return _platform("linux", ())
    selector = _common.get_str_map(spec, "nodeSelector", where)
    affinity = _common.get_map(spec, "affinity", where)
    aff_where = _common.join(where, "affinity")
    os_value = selector.get(OS_KEYS[0]) or selector.get(OS_KEYS[1])
    oses = (
        {os_value}
        if os_value
        else (_affinity_values(affinity, OS_KEYS, aff_where) if affinity else None)
    )
    arch_value = selector.get(ARCH_KEYS[0]) or selector.get(ARCH_KEYS[1])
    arches = (
        {arch_value}
        if arch_value
        else (_affinity_values(affinity, ARCH_KEYS, aff_where) if affinity else None)
    )
    # Nodes are Linux unless a selector says otherwise; several OSes can't be judged as one.
    os_name = "linux"
    if oses and oses != {"linux"}:
        normalized = {signals.normalize_os(o) for o in oses}
        if len(normalized) > 1:
            return model.Platform(None, ())
        os_name = normalized.pop()
    if not arches:
        return _platform(os_name, ())
    if len(arches) == 1:
        return _platform(os_name, (signals.normalize_arch(next(iter(arches))),))
    return _platform(os_name, tuple(sorted({signals.normalize_arch(a) for a in arches})))


@functools.lru_cache(maxsize=256)
def _platform(os_name: str, arch: tuple[str, ...]) -> model.Platform:
    return model.Platform(os_name, arch)


@functools.lru_cache(maxsize=256)
def _linux_platform(arch: str | None) -> model.Platform:
    return _platform("linux", (signals.normalize_arch(arch),) if arch else ())


_STR = frozenset({str})


def _env(container: Mapping[str, Any], where: str) -> dict[str, str]:
    entries = container.get("env")
    if type(entries) is list:
        # The common shape (literal string values) in one pass; anything unusual goes
        # through the checked loop, which names the bad field. valueFrom entries (secrets,
        # config maps) are unknown here and count as unset.
        try:
            out = {e["name"]: e["value"] for e in entries if "value" in e}
        except (KeyError, TypeError):
            return _env_checked(container, where)
        # all names and values strings (checked at C speed: this runs for every container)
        if set(map(type, out)) <= _STR and set(map(type, out.values())) <= _STR:
            return out
    return _env_checked(container, where)


def _env_checked(container: Mapping[str, Any], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, entry in enumerate(_common.get_list(container, "env", where)):
        if type(entry) is not dict:
            entry = _common.mapping(entry, f"{where}.env[{i}]")
        name = entry.get("name")
        if type(name) is not str:
            name = _common.string(name, f"{where}.env[{i}].name", required=True)
            assert name is not None
        # valueFrom (secrets, config maps) is unknown here: such a variable is not set.
        if "value" in entry:
            value = entry["value"]
            out[name] = value if type(value) is str else ("" if value is None else str(value))
    return out


def parse_object(doc: Mapping[str, Any], source: str, where: str, out: model.ParseResult) -> None:
    """One object; ``where`` is the path of ``doc`` inside its document ("" at the top)."""
    kind = doc.get("kind")
    if kind == "List" or (isinstance(kind, str) and kind.endswith("List") and "items" in doc):
        for i, item in enumerate(_common.get_list(doc, "items", where)):
            sub = _common.join(where, f"items[{i}]")
            try:
                parse_object(_common.mapping(item, sub), source, sub, out)
            except DocumentError as exc:
                out.errors.append(model.InputError(source, str(exc), exc.field))
        return
    if kind not in TEMPLATE_PATHS:
        return  # Services, ConfigMaps ... carry no workload
    assert isinstance(kind, str)
    meta = _common.get_map(doc, "metadata", where, required=True)
    meta_where = _common.join(where, "metadata")
    name = meta.get("name") or meta.get("generateName")
    if type(name) is not str:
        name = _common.string(name, _common.join(meta_where, "name"), required=True)
        assert name is not None
    namespace = _common.get_str(meta, "namespace", meta_where)
    pod: Mapping[str, Any] = doc
    pod_where = where
    path = TEMPLATE_PATHS[kind]
    if path is not None:
        for part in path:
            pod = _common.get_map(pod, part, pod_where, required=True)
            pod_where = _common.join(pod_where, part)
        pod_meta = _common.get_map(pod, "metadata", pod_where)
    else:
        pod_meta = meta
    spec = _common.get_map(pod, "spec", pod_where, required=True)
    spec_where = _common.join(pod_where, "spec")
    pod_meta_where = _common.join(pod_where, "metadata")
    annotations = _common.get_str_map(meta, "annotations", meta_where)
    if pod_meta is not meta:
        pod_ann = _common.get_str_map(pod_meta, "annotations", pod_meta_where)
        if pod_ann:
            annotations = {**annotations, **pod_ann} if annotations else pod_ann
    labels = _common.get_str_map(meta, "labels", meta_where)
    if pod_meta is not meta:
        pod_labels = _common.get_str_map(pod_meta, "labels", pod_meta_where)
        if pod_labels:
            labels = {**labels, **pod_labels} if labels else pod_labels
    lib = annotations.get(signals.LIB_INJECTION_ANNOTATION) or None
    init = _common.get_list(spec, "initContainers", spec_where)
    for i, c in enumerate(init):
        cw = f"{spec_where}.initContainers[{i}]"
        tag = signals.ddtrace_from_init_image(_common.get_str(_common.mapping(c, cw), "image", cw))
        if tag and not lib:
            lib = tag
    containers: list[signals.ContainerInput] = []
    for i, c in enumerate(_common.get_list(spec, "containers", spec_where, required=True)):
        cw = f"{spec_where}.containers[{i}]"
        c = _common.mapping(c, cw)
        cname = c.get("name")
        if type(cname) is not str:
            cname = _common.string(cname, f"{cw}.name", required=True)
            assert cname is not None
        containers.append(
            signals.ContainerInput(
                name=cname,
                image=_common.get_str(c, "image", cw),
                env=_env(c, cw) if "env" in c else {},
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
            platform=platform_of(spec, spec_where),
            labels=signals.label_pairs(labels),
            lib_injection=lib,
            skipped=len(init),
            default_container=annotations.get("kubectl.kubernetes.io/default-container"),
        ),
        out,
    )


def parse(doc: Mapping[str, Any], source: str, out: model.ParseResult) -> None:
    try:
        parse_object(doc, source, "", out)
    except DocumentError as exc:
        out.errors.append(model.InputError(source, str(exc), exc.field))


# --- The typed fast path for JSON (``kubectl get -o json``, API server answers) -----------
#
# msgspec decodes straight into these structs, reading only the fields a judgement needs
# and skipping the rest (managedFields, status, probes ...) in C. Any shape they do not
# describe exactly (a number where a string belongs, a null, a missing name) makes the
# decode or the walk give up, and the caller reads the document through the checked path
# above, which names the bad field. Both paths give the same workloads (tested).


class WireEnvVar(msgspec.Struct, gc=False):
    name: str
    # valueFrom entries (secrets, config maps) carry no value: unknown here, so unset.
    value: str | msgspec.UnsetType = msgspec.UNSET


# How a container's ``env`` is decoded: ``check`` decodes it with the rest (EnvEntries);
# the webhook keeps it as raw JSON (msgspec.Raw) and reads it once per distinct content
# (wire_container): the Pods of a rollout repeat it, and sidecars carry long environments
# that no judgement reads.
EnvT = TypeVar("EnvT")
EnvEntries = list[WireEnvVar] | None
_NO_ENV: Any = None


class WireContainer(msgspec.Struct, Generic[EnvT], gc=False):
    name: str
    image: str | None = None
    # None: no env. (Typed EnvT, not "EnvT | None": msgspec.Raw cannot be in a union.)
    env: EnvT = _NO_ENV


class WireOwnerReference(msgspec.Struct, gc=False):
    kind: str | None = None
    name: str | None = None
    controller: bool | None = None


class WireMeta(msgspec.Struct, gc=False):
    name: str | None = None
    generateName: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    ownerReferences: list[WireOwnerReference] | None = None


class WireTemplate(msgspec.Struct, Generic[EnvT], gc=False):
    metadata: WireMeta | None = None
    spec: WireSpec[EnvT] | None = None


class WireSpec(msgspec.Struct, Generic[EnvT], gc=False):
    """Pod, workload and job specs in one: each kind fills the fields it has."""

    containers: list[WireContainer[EnvT]] | None = None
    initContainers: list[WireContainer[EnvT]] | None = None
    nodeSelector: dict[str, str] | None = None
    affinity: dict[str, Any] | None = None
    template: WireTemplate[EnvT] | None = None
    jobTemplate: WireTemplate[EnvT] | None = None


class WireObject(msgspec.Struct, Generic[EnvT], gc=False):
    kind: str | None = None
    apiVersion: str | None = None
    metadata: WireMeta | None = None
    spec: WireSpec[EnvT] | None = None
    template: WireTemplate[EnvT] | None = None  # PodTemplate
    items: list[WireObject[EnvT]] | None = None  # List


class Irregular(Exception):
    """The document is not in the plain shape; read it through the checked path."""


_OBJECT_DECODER = msgspec.json.Decoder(WireObject[EnvEntries])
_ENV_DECODER = msgspec.json.Decoder(EnvEntries)
_EMPTY: dict[str, str] = {}


def _env_read(entries: list[WireEnvVar]) -> tuple[tuple[str, str], ...]:
    """The variables of a container's env that signals read."""
    read, prefixes, unset = signals.READ_ENV, signals.READ_ENV_PREFIXES, msgspec.UNSET
    return tuple(
        [
            (e.name, e.value)
            for e in entries
            if (e.name in read or e.name.startswith(prefixes)) and e.value is not unset
        ]
    )


def _env_items(raw: bytes) -> tuple[tuple[str, str], ...]:
    """:func:`_env_read` of a container's ``env`` as raw JSON. Raises Irregular for
    entries the checked path would report or convert."""
    if raw == b"null":  # no env: most sidecars
        return ()
    try:
        entries = _ENV_DECODER.decode(raw)
    except msgspec.DecodeError:
        raise Irregular from None
    # Every variable the signals read has "DD_" or "PYTHON_VERSION" in its name; a
    # backslash could spell one with an escape. Most sidecars have none: no loop for them.
    if entries and (b"DD_" in raw or b"PYTHON_VERSION" in raw or b"\\" in raw):
        return _env_read(entries)
    return ()


# What a container says to the signals: name, image and the variables signals read (a
# later duplicate of a name wins, as in the checked path).
ContainerKey = tuple[str, str | None, tuple[tuple[str, str], ...]]


def container_key(c: WireContainer[Any]) -> ContainerKey:
    env = c.env
    if not env:  # None, or no entries
        return c.name, c.image, ()
    if type(env) is msgspec.Raw:  # (a webhook object)
        return c.name, c.image, _env_items(bytes(env))
    return c.name, c.image, _env_read(env)


# name, image, env as raw JSON -> the container's key. The Pods an admission webhook
# sees repeat their sidecars and most of their app containers: each is read once.
_CONTAINERS: dict[tuple[str, str | None, bytes], ContainerKey] = {}
_CONTAINERS_LIMIT = 512


def wire_container(c: WireContainer[msgspec.Raw]) -> ContainerKey:
    """:func:`container_key` of a container decoded with its env raw, remembered by raw
    content; raises Irregular."""
    raw = b"null" if c.env is None else bytes(c.env)
    found = _CONTAINERS.get((c.name, c.image, raw))
    if found is None:
        found = (c.name, c.image, _env_items(raw))
        if len(_CONTAINERS) >= _CONTAINERS_LIMIT:
            _CONTAINERS.clear()
        _CONTAINERS[(c.name, c.image, raw)] = found
    return found


def wire_controller(meta: WireMeta) -> tuple[str, str] | None:
    """:func:`controller_of` for a typed object."""
    for ref in meta.ownerReferences or ():
        if ref.controller:
            return str(ref.kind), str(ref.name)
    return None


def decode_object(data: bytes) -> WireObject[EnvEntries] | None:
    """A Kubernetes object (or List) from JSON bytes; None when it is not plainly one."""
    try:
        obj = _OBJECT_DECODER.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return None
    if type(obj.kind) is not str or type(obj.apiVersion) is not str:
        return None
    return obj


def parse_json(data: bytes, source: str) -> model.ParseResult | None:
    """The workloads of a JSON manifest through the typed path, or None to use the checked
    one (not a Kubernetes object, or not in the plain shape)."""
    obj = decode_object(data)
    return None if obj is None else parse_wire(obj, source)


def parse_wire(
    obj: WireObject[Any],
    source: str,
    containers: list[ContainerKey] | None = None,
) -> model.ParseResult | None:
    """The workloads of a typed object, or None when the checked path must read it.
    ``containers``: the keys of a Pod's containers, if known (wire_container)."""
    out = model.ParseResult()
    try:
        wire_object(obj, source, out, containers)
    except Irregular:
        return None
    return out


def _merged(outer: dict[str, str] | None, inner: dict[str, str] | None) -> dict[str, str]:
    if not inner:
        return outer or _EMPTY
    return {**outer, **inner} if outer else inner


def wire_object(
    obj: WireObject[Any],
    source: str,
    out: model.ParseResult,
    containers: list[ContainerKey] | None = None,
) -> None:
    """The typed twin of :func:`parse_object`; raises Irregular where that one would
    report an error (or convert a value), so that it is the one to do it."""
    kind = obj.kind
    if kind is None:
        return  # (as above: no kind, no workload)
    if obj.items is not None and (kind == "List" or kind.endswith("List")):
        for item in obj.items:
            wire_object(item, source, out)
        return
    if kind not in TEMPLATE_PATHS:  # (List included: its items are read above)
        return
    path = TEMPLATE_PATHS[kind]
    meta = obj.metadata
    if meta is None:
        raise Irregular
    name = meta.name or meta.generateName
    if name is None:
        raise Irregular
    if path is None:
        pod_meta: WireMeta | None = meta
        spec = obj.spec
    else:
        if kind == "CronJob":
            job = obj.spec.jobTemplate if obj.spec is not None else None
            tpl = job.spec.template if job is not None and job.spec is not None else None
        elif kind == "PodTemplate":
            tpl = obj.template
        else:
            tpl = obj.spec.template if obj.spec is not None else None
        if tpl is None:
            raise Irregular
        pod_meta, spec = tpl.metadata, tpl.spec
    if spec is None or spec.containers is None:
        raise Irregular
    if pod_meta is None or pod_meta is meta:
        annotations = meta.annotations or _EMPTY
        labels = meta.labels or _EMPTY
    else:
        annotations = _merged(meta.annotations, pod_meta.annotations)
        labels = _merged(meta.labels, pod_meta.labels)
    lib = annotations.get(signals.LIB_INJECTION_ANNOTATION) or None
    init = spec.initContainers or ()
    for ic in init:
        tag = signals.ddtrace_from_init_image(ic.image)
        if tag and not lib:
            lib = tag
    keys = (
        tuple([container_key(c) for c in spec.containers])
        if containers is None or path is not None
        else tuple(containers)
    )
    selector = spec.nodeSelector
    if spec.affinity is None and (selector is None or selector.keys().isdisjoint(OS_KEYS)):
        # No affinity and no OS selector (the common case): Linux, maybe one architecture.
        arch = selector.get(ARCH_KEYS[0]) or selector.get(ARCH_KEYS[1]) if selector else None
        platform = _linux_platform(arch)
    else:
        raw_spec: dict[str, Any] = {}
        if spec.nodeSelector is not None:
            raw_spec["nodeSelector"] = spec.nodeSelector
        if spec.affinity is not None:
            raw_spec["affinity"] = spec.affinity
        try:
            platform = platform_of(raw_spec, "spec")
        except DocumentError:
            raise Irregular from None
    default = annotations.get("kubectl.kubernetes.io/default-container")
    annotation_items = tuple(annotations.items())
    key = (
        annotation_items,
        keys,
        platform,
        lib,
        len(init),
        default,
    )
    signals_of = _TEMPLATES.get(key)
    if signals_of is None:
        signals_of = _template_signals(annotation_items, keys, platform, lib, len(init), default)
        if len(_TEMPLATES) >= _TEMPLATES_LIMIT:
            _TEMPLATES.clear()
        _TEMPLATES[key] = signals_of
    found, errors, skipped = signals_of
    namespace = meta.namespace
    # signals.label_pairs, for labels known to be strings
    label_pairs = tuple(sorted(labels.items())) if labels else ()
    append = out.workloads.append
    for container, facts, exempt in found:
        append(model.Workload(source, kind, namespace, name, container, facts, label_pairs, exempt))
    for message, field in errors:
        out.errors.append(model.InputError(source, message, field))
    out.skipped_containers += skipped


# What a pod template's content says, whatever the workload's name, namespace or labels:
# (container, facts, exemption) of each container judged, input errors (message, field),
# skipped containers. Fleets deploy the same template many times (one chart, many
# releases; a Deployment and its Pods): its signals are read once.
TemplateSignals = tuple[
    tuple[tuple[str, model.Facts, str | None], ...], tuple[tuple[str, str | None], ...], int
]
_TEMPLATES: dict[tuple[Any, ...], TemplateSignals] = {}
_TEMPLATES_LIMIT = 4096


@functools.lru_cache(maxsize=256)
def _annotations(items: tuple[tuple[str, str], ...]) -> signals.Annotations:
    # templates of one chart differ in images and env more often than in annotations
    return signals.Annotations(dict(items), "metadata.annotations")


def _template_signals(
    annotations: tuple[tuple[str, str], ...],
    containers: tuple[ContainerKey, ...],
    platform: model.Platform,
    lib: str | None,
    skipped: int,
    default: str | None,
) -> TemplateSignals:
    sub = model.ParseResult()
    _common.emit(
        _common.Group(
            source="",
            deployment_type="kubernetes",
            kind="",
            namespace=None,
            name="",
            annotations=_annotations(annotations),
            containers=[
                signals.ContainerInput(name, image, dict(env)) for name, image, env in containers
            ],
            platform=platform,
            lib_injection=lib,
            skipped=skipped,
            default_container=default,
        ),
        sub,
    )
    return (
        tuple((w.container, w.facts, w.exempt) for w in sub.workloads),
        tuple((e.message, e.field) for e in sub.errors),
        sub.skipped_containers,
    )
