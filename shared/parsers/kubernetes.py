"""Kubernetes manifests: Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job, CronJob, PodTemplate and List (also Helm-rendered output)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import msgspec

from ddcompat.shared import cache as cache_mod
from ddcompat.shared import model, signals
from ddcompat.shared.parsers import _common
from ddcompat.shared.parsers._common import DocumentError as DocumentError

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


# --- What a judgement reads of an object ---------------------------------------------
#
# Every Kubernetes object, whatever it came from (JSON bytes from a file or the API
# server, a YAML document, an AdmissionReview), is read into these structs: JSON bytes
# are decoded straight into them (only the fields a judgement needs; managedFields,
# status, probes ... are skipped in C), parsed documents are converted into them. A
# document outside the plain shape (a number where a string belongs, a null in a map) is
# first made plain by :func:`_plain`, which converts what Kubernetes tooling would accept
# and names the field of anything else. One walk (:meth:`Reader.read_object`) then turns
# the structs into workloads.


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
    """Raw JSON outside the plain shape: the caller reads the parsed document instead."""


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
    entries that need converting (the parsed document is read instead)."""
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
# later duplicate of a name wins).
ContainerKey = tuple[str, str | None, tuple[tuple[str, str], ...]]


def container_key(c: WireContainer[Any]) -> ContainerKey:
    env = c.env
    if not env:  # None, or no entries
        return c.name, c.image, ()
    if type(env) is msgspec.Raw:  # (an admission object: env kept raw)
        return c.name, c.image, _env_items(bytes(env))
    return c.name, c.image, _env_read(env)


def wire_controller(meta: WireMeta) -> tuple[str, str] | None:
    """:func:`controller_of` for a typed object."""
    for ref in meta.ownerReferences or ():
        if ref.controller:
            return str(ref.kind), str(ref.name)
    return None


def _merged(outer: dict[str, str] | None, inner: dict[str, str] | None) -> dict[str, str]:
    if not inner:
        return outer or _EMPTY
    return {**outer, **inner} if outer else inner


# What a pod template's content says, whatever the workload's name, namespace or labels:
# (container, facts, exemption) of each container judged, input errors (message, field),
# skipped containers.
TemplateSignals = tuple[
    tuple[tuple[str, model.Facts, str | None], ...], tuple[tuple[str, str | None], ...], int
]
TemplateKey = tuple[
    tuple[tuple[str, str], ...],  # annotations
    tuple[ContainerKey, ...],
    model.Platform,
    model.FactSource,  # where the platform came from
    str | None,  # library injection
    int,  # init containers
    str | None,  # default container
]
# Budgets of a Reader's caches (estimated bytes; an entry is ~1-3 KB).
TEMPLATE_CACHE_BYTES = 16 << 20
CONTAINER_CACHE_BYTES = 2 << 20


class Reader:
    """Reads Kubernetes objects into workloads, remembering what each distinct pod
    template and container says (a fleet deploys one template many times: one chart,
    many releases; a Deployment and its Pods; a rollout). The caches are this reader's:
    a front end makes one per run or per app. They are keyed by everything the signals
    read of a template, so they never change an answer (tested).
    """

    __slots__ = ("containers", "templates")

    def __init__(
        self,
        *,
        template_bytes: int = TEMPLATE_CACHE_BYTES,
        container_bytes: int = CONTAINER_CACHE_BYTES,
    ) -> None:
        self.templates: cache_mod.Cache[TemplateKey, TemplateSignals] = cache_mod.Cache(
            "kubernetes.templates", template_bytes
        )
        # (name, image, env as raw JSON) -> key: the Pods an admission webhook sees
        # repeat their sidecars and most of their app containers
        self.containers: cache_mod.Cache[tuple[str, str | None, bytes], ContainerKey] = (
            cache_mod.Cache("kubernetes.containers", container_bytes)
        )

    # -- the doors: JSON bytes, parsed documents --------------------------------------

    def read_json(self, data: bytes, source: str) -> model.ParseResult | None:
        """The workloads of JSON bytes holding a Kubernetes object (or List) in the plain
        shape; None when they are not (the caller parses the JSON and calls
        :meth:`read_document`, which names what is wrong)."""
        try:
            obj = _OBJECT_DECODER.decode(data)
        except (msgspec.DecodeError, RecursionError):
            return None
        if type(obj.kind) is not str or type(obj.apiVersion) is not str:
            return None
        out = model.ParseResult()
        try:
            self.read_object(obj, source, "", out)
        except DocumentError:
            return None  # (read_document names it, and reads a List's other items)
        return out

    def read_document(
        self, doc: Mapping[str, Any], source: str, out: model.ParseResult, where: str = ""
    ) -> None:
        """One parsed object (YAML, JSON, an API listing's item); a List's items each on
        their own. Problems become input errors naming the field."""
        kind = doc.get("kind")
        if kind == "List" or (isinstance(kind, str) and kind.endswith("List") and "items" in doc):
            try:
                items = _common.get_list(doc, "items", where)
            except DocumentError as exc:
                out.errors.append(model.InputError(source, str(exc), exc.field))
                return
            for i, item in enumerate(items):
                sub = _common.join(where, f"items[{i}]")
                try:
                    self.read_document(_common.mapping(item, sub), source, out, sub)
                except DocumentError as exc:
                    out.errors.append(model.InputError(source, str(exc), exc.field))
            return
        if kind not in TEMPLATE_PATHS:
            return  # Services, ConfigMaps ... carry no workload
        try:
            self.read_object(to_wire(doc, where), source, where, out)
        except DocumentError as exc:
            out.errors.append(model.InputError(source, str(exc), exc.field))

    # -- the one walk ------------------------------------------------------------------

    def admission_container(self, c: WireContainer[msgspec.Raw]) -> ContainerKey:
        """:func:`container_key` of a container decoded with its env raw, remembered by
        raw content; raises Irregular."""
        raw = b"null" if c.env is None else bytes(c.env)
        key = (c.name, c.image, raw)
        found = self.containers.get(key)
        if found is None:
            found = self.containers.put(key, (c.name, c.image, _env_items(raw)))
        return found

    def read_object(
        self,
        obj: WireObject[Any],
        source: str,
        where: str,
        out: model.ParseResult,
        containers: list[ContainerKey] | None = None,
    ) -> None:
        """The workloads of one object. ``containers``: the keys of a Pod's containers,
        if known (:meth:`admission_container`). Raises DocumentError naming the field of
        a missing part; raises Irregular for raw env outside the plain shape."""
        kind = obj.kind
        if kind is None:
            return  # no kind, no workload
        if obj.items is not None and (kind == "List" or kind.endswith("List")):
            for i, item in enumerate(obj.items):
                try:
                    self.read_object(item, source, "", out)
                except DocumentError as exc:  # (the item's path is built only for errors)
                    at = _common.join(where, f"items[{i}]")
                    raise DocumentError(_common.join(at, exc.field), str(exc)) from None
            return
        if kind not in TEMPLATE_PATHS:
            return  # Services, ConfigMaps ... carry no workload
        path = TEMPLATE_PATHS[kind]
        meta = obj.metadata
        if meta is None:
            raise DocumentError(_common.join(where, "metadata"), "missing")
        name = meta.name or meta.generateName
        if name is None:
            raise DocumentError(_common.join(where, "metadata.name"), "missing")
        if path is None:
            pod_meta: WireMeta | None = meta
            spec = obj.spec
        else:
            node: Any = obj
            for part in path:
                node = getattr(node, part)
                if node is None:
                    raise _missing_part(obj, path, where)
            pod_meta, spec = node.metadata, node.spec
        if spec is None:
            raise DocumentError(_spec_field(where, kind), "missing")
        if spec.containers is None:
            raise DocumentError(_spec_field(where, kind, "containers"), "missing")
        if pod_meta is None or pod_meta is meta:
            annotations = meta.annotations or _EMPTY
            labels = meta.labels or _EMPTY
        else:
            annotations = _merged(meta.annotations, pod_meta.annotations)
            labels = _merged(meta.labels, pod_meta.labels)
        lib = annotations.get(signals.LIB_INJECTION_ANNOTATION) or (
            signals.lib_injection_of(annotations)
            if signals.LIB_CUSTOM_IMAGE_ANNOTATION in annotations
            else None
        )
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
            # No affinity and no OS selector (the common case): Linux, maybe one arch.
            arch = selector.get(ARCH_KEYS[0]) or selector.get(ARCH_KEYS[1]) if selector else None
            platform = _linux_platform(arch)
            platform_source: model.FactSource = "node_selection" if arch else "default"
        else:
            raw_spec: dict[str, Any] = {}
            if spec.nodeSelector is not None:
                raw_spec["nodeSelector"] = spec.nodeSelector
            if spec.affinity is not None:
                raw_spec["affinity"] = spec.affinity
            platform = platform_of(raw_spec, _spec_field(where, kind))
            platform_source = "node_selection"
        key: TemplateKey = (
            tuple(annotations.items()),
            keys,
            platform,
            platform_source,
            lib,
            len(init),
            annotations.get("kubectl.kubernetes.io/default-container"),
        )
        signals_of = self.templates.get(key)
        if signals_of is None:
            signals_of = self.templates.put(key, _template_signals(*key))
        found, errors, skipped = signals_of
        namespace = meta.namespace
        # signals.label_pairs, for labels known to be strings
        label_pairs = tuple(sorted(labels.items())) if labels else ()
        append, make = out.workloads.append, model.WorkloadContainer
        for container, facts, exempt in found:
            append(make(source, kind, namespace, name, container, facts, label_pairs, exempt))
        for message, field in errors:
            out.errors.append(model.InputError(source, message, field))
        out.skipped_containers += skipped


def _spec_field(where: str, kind: str, *rest: str) -> str:
    """The field path of a kind's pod spec (``spec.template.spec`` ...), for errors."""
    path = TEMPLATE_PATHS[kind] or ()
    return _common.join(where, ".".join((*path, "spec", *rest)))


def _missing_part(obj: WireObject[Any], path: tuple[str, ...], where: str) -> DocumentError:
    """The error naming the first missing part of a workload's path to its template."""
    node: Any = obj
    for depth, part in enumerate(path):
        node = getattr(node, part)
        if node is None:
            return DocumentError(_common.join(where, ".".join(path[: depth + 1])), "missing")
    raise AssertionError("the template is not missing")


_CONVERT_TYPE = WireObject[EnvEntries]


def to_wire(doc: Mapping[str, Any], where: str = "") -> WireObject[EnvEntries]:
    """A parsed object as the structs a judgement reads; DocumentError names the field
    of a value that cannot be used."""
    try:
        return msgspec.convert(doc, _CONVERT_TYPE)
    except (msgspec.ValidationError, RecursionError):
        pass
    plain = _plain(doc, where)
    try:
        return msgspec.convert(plain, _CONVERT_TYPE)
    except msgspec.ValidationError as exc:  # a shape _plain lets through: name it anyway
        message, _, at = str(exc).partition(" - at `$")
        raise DocumentError(_common.join(where, at.rstrip("`").lstrip(".")), message) from None


# --- _plain: the odd shapes, converted as Kubernetes tooling would, or named ---------


def _plain(doc: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The fields :class:`WireObject` reads, each converted to its plain type (numbers
    to strings, null map values to "") or a DocumentError naming it."""
    out: dict[str, Any] = {}
    for key in ("kind", "apiVersion"):
        out[key] = _common.get_str(doc, key, where)
    kind = out["kind"]
    meta = _common.get_map(doc, "metadata", where, required=True)
    out["metadata"] = _plain_meta(meta, _common.join(where, "metadata"), named=True)
    path = TEMPLATE_PATHS.get(kind or "")
    if path is None:
        out["spec"] = _plain_spec(
            _common.get_map(doc, "spec", where, required=True), _common.join(where, "spec")
        )
        return out
    node: Mapping[str, Any] = doc
    node_where = where
    for part in path:
        node = _common.get_map(node, part, node_where, required=True)
        node_where = _common.join(node_where, part)
    tpl = {
        "metadata": _plain_meta(
            _common.get_map(node, "metadata", node_where), _common.join(node_where, "metadata")
        ),
        "spec": _plain_spec(
            _common.get_map(node, "spec", node_where, required=True),
            _common.join(node_where, "spec"),
        ),
    }
    # rebuild the path down to the template: {"spec": {"jobTemplate": {"spec": {...}}}}
    built: dict[str, Any] = tpl
    for part in reversed(path[1:]):
        built = {part: built}
    out[path[0]] = built
    return out


def _plain_meta(meta: Mapping[str, Any], where: str, *, named: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if named:
        name = meta.get("name") or meta.get("generateName")
        out["name"] = _common.string(name, _common.join(where, "name"), required=True)
        out["namespace"] = _common.get_str(meta, "namespace", where)
    out["annotations"] = dict(_common.get_str_map(meta, "annotations", where))
    out["labels"] = dict(_common.get_str_map(meta, "labels", where))
    refs = meta.get("ownerReferences")
    if isinstance(refs, list):
        out["ownerReferences"] = [
            {"kind": str(r.get("kind")), "name": str(r.get("name")), "controller": True}
            for r in refs
            if isinstance(r, dict) and r.get("controller")
        ]
    return out


def _plain_spec(spec: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    init = []
    for i, c in enumerate(_common.get_list(spec, "initContainers", where)):
        cw = f"{where}.initContainers[{i}]"
        init.append({"name": "", "image": _common.get_str(_common.mapping(c, cw), "image", cw)})
    out["initContainers"] = init
    containers = []
    for i, c in enumerate(_common.get_list(spec, "containers", where, required=True)):
        cw = f"{where}.containers[{i}]"
        c = _common.mapping(c, cw)
        containers.append(
            {
                "name": _common.string(c.get("name"), f"{cw}.name", required=True),
                "image": _common.get_str(c, "image", cw),
                "env": _plain_env(c, cw) if "env" in c else None,
            }
        )
    out["containers"] = containers
    if "nodeSelector" in spec:
        out["nodeSelector"] = dict(_common.get_str_map(spec, "nodeSelector", where))
    affinity = _common.get_map(spec, "affinity", where)
    if affinity:
        out["affinity"] = dict(affinity)
    return out


def _plain_env(container: Mapping[str, Any], where: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for i, entry in enumerate(_common.get_list(container, "env", where)):
        entry = _common.mapping(entry, f"{where}.env[{i}]")
        name = _common.string(entry.get("name"), f"{where}.env[{i}].name", required=True)
        assert name is not None
        # valueFrom (secrets, config maps) is unknown here: such a variable is not set.
        if "value" in entry:
            value = entry["value"]
            out.append(
                {
                    "name": name,
                    "value": value if type(value) is str else ("" if value is None else str(value)),
                }
            )
        else:
            out.append({"name": name})
    return out


@functools.lru_cache(maxsize=256)
def _annotations(items: tuple[tuple[str, str], ...]) -> signals.Annotations:
    # (a pure function of its argument) templates of one chart differ in images and env
    # more often than in annotations
    return signals.Annotations(dict(items), "metadata.annotations")


def _template_signals(
    annotations: tuple[tuple[str, str], ...],
    containers: tuple[ContainerKey, ...],
    platform: model.Platform,
    platform_source: model.FactSource,
    lib: str | None,
    skipped: int,
    default: str | None,
) -> TemplateSignals:
    sub = model.ParseResult()
    per_container = (
        dict(annotations)
        if any(k.startswith(signals.ADMISSION_PREFIX) for k, _ in annotations)
        else None
    )
    _common.emit(
        _common.Group(
            source="",
            deployment_type="kubernetes",
            kind="",
            namespace=None,
            name="",
            annotations=_annotations(annotations),
            containers=[
                signals.ContainerInput(
                    name,
                    image,
                    dict(env),
                    lib_injection=signals.lib_injection_of(per_container, name)
                    if per_container
                    else None,
                )
                for name, image, env in containers
            ],
            platform=platform,
            platform_source=platform_source,
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
