"""Kubernetes manifests: Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job, CronJob, PodTemplate, List, and the workload CRDs that embed a
pod template (Argo Rollout, OpenShift DeploymentConfig and Template, Knative Service,
KEDA ScaledJob); any other kind that holds containers is named as not understood."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from enum import Enum
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
    "Rollout": ("spec", "template"),  # Argo Rollouts (unless it points at a Deployment)
    "DeploymentConfig": ("spec", "template"),  # OpenShift
}
# Kinds whose name other API groups use too: read by (API group, kind).
GROUP_TEMPLATE_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("serving.knative.dev", "Service"): ("spec", "template"),
    ("serving.knative.dev", "Configuration"): ("spec", "template"),
    ("serving.knative.dev", "Revision"): (),  # the object's spec is the pod spec
    ("keda.sh", "ScaledJob"): ("spec", "jobTargetRef", "template"),
}
# Kinds that hold other objects: List (and *List), OpenShift Template (objects).
CONTAINER_FIELDS = {"List": "items", "Template": "objects"}
# How deep and how wide a kind ddcompat does not read is searched for containers.
SEARCH_DEPTH, SEARCH_NODES = 12, 20_000


# Built-in kinds that never hold a pod template (what kubectl exports and Helm charts
# hold besides workloads): not searched for containers.
NO_PODS = frozenset(
    {
        "Service",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Namespace",
        "Ingress",
        "IngressClass",
        "Endpoints",
        "EndpointSlice",
        "Event",
        "Node",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "StorageClass",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "LimitRange",
        "ResourceQuota",
        "PriorityClass",
        "CustomResourceDefinition",
        "APIService",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "Lease",
        "ControllerRevision",
        "CertificateSigningRequest",
    }
)


def _all_kinds_known(obj: WireObject[Any]) -> bool:
    """Whether every object in ``obj`` (and its List items) is a workload or a built-in
    kind without pods: the typed path reads only those."""
    members = obj.items if obj.items is not None else obj.objects
    if members is not None:
        known = _KNOWN_KINDS
        return all(
            (m.kind in known or m.kind is None)
            if m.items is None and m.objects is None
            else _all_kinds_known(m)
            for m in members
        )
    return obj.kind is None or obj.kind in _KNOWN_KINDS


_GROUP_KINDS = frozenset(kind for _, kind in GROUP_TEMPLATE_PATHS)
# every kind the typed path reads (Knative's Service is a Service to this test)
_KNOWN_KINDS = frozenset(
    {*TEMPLATE_PATHS, *NO_PODS, *(kind for _, kind in GROUP_TEMPLATE_PATHS), "List", "Template"}
)


class NotAWorkload(Enum):
    """The kind carries no pod template ddcompat reads."""

    NO = 0


NOT_A_WORKLOAD = NotAWorkload.NO


@functools.lru_cache(maxsize=512)
def template_path(api_version: str | None, kind: str) -> tuple[str, ...] | NotAWorkload | None:
    """The path from an object of this kind to its pod template (None: the object is the
    pod; ``()``: the object's spec is the pod spec), or NOT_A_WORKLOAD."""
    if api_version and "/" in api_version:
        found = GROUP_TEMPLATE_PATHS.get((api_version.rsplit("/", 1)[0], kind))
        if found is not None:
            return found
    return TEMPLATE_PATHS.get(kind, NOT_A_WORKLOAD)


def holds_objects(kind: object, doc: Mapping[str, Any]) -> str | None:
    """The field of a List or an OpenShift Template that holds its objects."""
    if not isinstance(kind, str):
        return None
    field = CONTAINER_FIELDS.get(kind) or ("items" if kind.endswith("List") else None)
    return field if field is not None and field in doc else None


def containers_at(doc: Any) -> str | None:
    """The field path of the first container list (``containers`` of mappings with an
    ``image``, or a ``container`` mapping) inside a document, searched breadth-first
    within SEARCH_DEPTH levels and SEARCH_NODES nodes (a kind ddcompat does not read)."""
    queue: list[tuple[Any, str, int]] = [(doc, "", 0)]
    for seen, (node, where, depth) in enumerate(queue):
        if seen >= SEARCH_NODES:
            return None
        if isinstance(node, dict):
            for key, value in node.items():
                at = _common.join(where, str(key))
                if key in ("containers", "initContainers") and isinstance(value, list):
                    if any(isinstance(c, dict) and "image" in c for c in value[:64]):
                        return at
                elif key == "container" and isinstance(value, dict) and "image" in value:
                    return at
                if depth < SEARCH_DEPTH and isinstance(value, dict | list):
                    queue.append((value, at, depth + 1))
        elif isinstance(node, list):
            for i, value in enumerate(node[:1024]):
                if depth < SEARCH_DEPTH and isinstance(value, dict | list):
                    queue.append((value, f"{where}[{i}]", depth + 1))
    return None


OS_KEYS = ("kubernetes.io/os", "beta.kubernetes.io/os")
ARCH_KEYS = ("kubernetes.io/arch", "beta.kubernetes.io/arch")


def _controller_pair(meta: Mapping[str, Any], a: str, b: str) -> tuple[str, str] | None:
    """Fields ``a`` and ``b`` of the first controller owner reference that has both as
    non-empty strings (a reference without them names nothing: never "None")."""
    refs = meta.get("ownerReferences")
    for ref in refs if isinstance(refs, list) else ():
        if isinstance(ref, dict) and ref.get("controller"):
            x, y = ref.get(a), ref.get(b)
            if isinstance(x, str) and x and isinstance(y, str) and y:
                return x, y
    return None


def controller_of(meta: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of an object's controller owner reference, if it has one."""
    return _controller_pair(meta, "kind", "name")


def controller_identity(meta: Mapping[str, Any]) -> tuple[str, str] | None:
    """(apiVersion, uid) of an object's controller owner reference, if it names them."""
    return _controller_pair(meta, "apiVersion", "uid")


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
    uid: str | None = None
    generateName: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    ownerReferences: list[WireOwnerReference] | None = None
    deletionTimestamp: str | None = None  # set while an object waits for its finalizers


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
    jobTargetRef: WireSpec[EnvT] | None = None  # KEDA ScaledJob: a Job spec
    workloadRef: dict[str, Any] | None = None  # Argo Rollout pointing at a Deployment


class WireObject(msgspec.Struct, Generic[EnvT], gc=False):
    kind: str | None = None
    apiVersion: str | None = None
    metadata: WireMeta | None = None
    spec: WireSpec[EnvT] | None = None
    template: WireTemplate[EnvT] | None = None  # PodTemplate
    items: list[WireObject[EnvT]] | None = None  # List
    objects: list[WireObject[EnvT]] | None = None  # OpenShift Template


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
    if entries and (
        b"DD_" in raw
        or b"PYTHON_VERSION" in raw
        or b"OPTIONS" in raw  # JAVA_TOOL_OPTIONS, NODE_OPTIONS: another language's tracer
        or b"CORECLR" in raw
        or b"\\" in raw
    ):
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
        if ref.controller and ref.kind and ref.name:
            return ref.kind, ref.name
    return None


def _merged(outer: dict[str, str] | None, inner: dict[str, str] | None) -> dict[str, str]:
    if not inner:
        return outer or _EMPTY
    return {**outer, **inner} if outer else inner


# What a pod template's content says, whatever the workload's name, namespace or labels:
# (container, facts, exemption) of each container judged, input errors (message, field),
# skipped containers.
TemplateSignals = tuple[
    tuple[tuple[str, model.Facts, str | None, str | None], ...],  # (.., exempt, image)
    tuple[tuple[str, str | None], ...],
    int,
    tuple[tuple[str, str, str], ...],  # containers of another language: (name, language, why)
]
TemplateKey = tuple[
    tuple[tuple[str, str], ...],  # annotations
    tuple[ContainerKey, ...],
    model.Platform,
    model.FactSource,  # where the platform came from
    str | None,  # library injection
    int,  # init containers
    str | None,  # default container
    tuple[str, str] | None,  # another language's library injection into the pod
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

    __slots__ = ("build_links", "containers", "templates")

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
        # image repository -> what the walk's build files say its Dockerfile holds (set
        # by the walk before it reads the manifests; an image two build files build
        # differently is left out)
        self.build_links: Mapping[str, model.BuildLink] = {}

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
        if not _all_kinds_known(obj):
            return None  # read_document searches the others for containers
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
        holder = holds_objects(kind, doc)
        if holder is not None:
            try:
                items = _common.get_list(doc, holder, where)
            except DocumentError as exc:
                out.errors.append(model.InputError(source, str(exc), exc.field))
                return
            for i, item in enumerate(items):
                sub = _common.join(where, f"{holder}[{i}]")
                try:
                    self.read_document(_common.mapping(item, sub), source, out, sub)
                except DocumentError as exc:
                    out.errors.append(model.InputError(source, str(exc), exc.field))
            return
        api_version = doc.get("apiVersion")
        api_version = api_version if isinstance(api_version, str) else None
        path = template_path(api_version, kind) if isinstance(kind, str) else NOT_A_WORKLOAD
        if path is NOT_A_WORKLOAD:
            if kind in NO_PODS:
                return  # Services, ConfigMaps ... carry no workload
            # a kind ddcompat does not read: named if it holds containers
            at = containers_at(doc)
            if at is not None:
                out.kinds_not_understood.append(_not_understood(doc, source, where, at))
            return
        if _points_elsewhere(doc):
            return
        if path and api_version and api_version.startswith(KNATIVE_SERVING):
            doc = _knative_names(doc, path)
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
        if self._read_members(obj, kind, source, where, out):
            return
        path = _workload_path(obj, kind)
        if path is NOT_A_WORKLOAD:
            # Services, ConfigMaps ... carry no workload (JSON of other kinds is searched
            # for containers by read_document: read_json leaves it to the parsed path)
            return
        if obj.spec is not None and obj.spec.workloadRef is not None and obj.spec.template is None:
            return  # an Argo Rollout of a Deployment: the Deployment is judged
        meta, name, pod_meta, spec = _pod_parts(obj, path, where)
        if pod_meta is None or pod_meta is meta:
            annotations = meta.annotations or _EMPTY
            labels = meta.labels or _EMPTY
        else:
            annotations = _merged(meta.annotations, pod_meta.annotations)
            labels = _merged(meta.labels, pod_meta.labels)
        init = spec.initContainers or ()
        keys = (
            tuple([container_key(c) for c in spec.containers or ()])
            if containers is None or path is not None
            else tuple(containers)
        )
        platform, platform_source = _spec_platform(spec, _spec_field(where, path))
        read = signals.read_annotations(annotations) if annotations else ()
        key: TemplateKey = (
            read,
            keys,
            platform,
            platform_source,
            _injected(annotations, init),
            len(init),
            annotations.get(signals.DEFAULT_CONTAINER_ANNOTATION),
            signals.injected_language(annotations, None, (ic.image for ic in init if ic.image))
            if init or read
            else None,
        )
        signals_of = self.templates.get(key)
        if signals_of is None:
            signals_of = _template_signals(*key, links=self.build_links)
            if signals.cacheable(read):  # (an over-long value is judged, never kept)
                self.templates.put(key, signals_of)
        _emit(signals_of, source, kind, meta.namespace, name, labels, out)

    def _read_members(
        self, obj: WireObject[Any], kind: str, source: str, where: str, out: model.ParseResult
    ) -> bool:
        """The items of a List (``items``) or an OpenShift Template (``objects``), each
        read as an object of its own; False when the object is neither."""
        if obj.items is not None and (kind == "List" or kind.endswith("List")):
            members, holder = obj.items, "items"
        elif obj.objects is not None and kind == "Template":
            members, holder = obj.objects, "objects"
        else:
            return False
        for i, item in enumerate(members):
            try:
                self.read_object(item, source, "", out)
            except DocumentError as exc:  # (the item's path is built only for errors)
                at = _common.join(where, f"{holder}[{i}]")
                raise DocumentError(_common.join(at, exc.field), str(exc)) from None
        return True


def _workload_path(obj: WireObject[Any], kind: str) -> Any:
    """Where the kind keeps its pod template: built-in kinds straight from the table;
    others (and kinds that other API groups use too, Knative's Service) by their group."""
    path = TEMPLATE_PATHS.get(kind, NOT_A_WORKLOAD)
    if path is NOT_A_WORKLOAD or kind in _GROUP_KINDS:
        path = template_path(obj.apiVersion, kind)
    return path


def _pod_parts(
    obj: WireObject[Any], path: tuple[str, ...] | None, where: str
) -> tuple[WireMeta, str, WireMeta | None, WireSpec[Any]]:
    """(the object's metadata, its name, the pod template's metadata, the pod spec);
    DocumentError naming the first part that is missing."""
    meta = obj.metadata
    if meta is None:
        raise DocumentError(_common.join(where, "metadata"), "missing")
    name = meta.name or meta.generateName
    if name is None:
        raise DocumentError(_common.join(where, "metadata.name"), "missing")
    pod_meta: WireMeta | None
    if path is None:
        pod_meta, spec = meta, obj.spec
    elif not path:  # the object's spec is the pod spec (Knative Revision)
        pod_meta, spec = None, obj.spec
    else:
        node: Any = obj
        for part in path:
            node = getattr(node, part)
            if node is None:
                raise _missing_part(obj, path, where)
        pod_meta, spec = node.metadata, node.spec
    if spec is None:
        raise DocumentError(_spec_field(where, path), "missing")
    if spec.containers is None:
        raise DocumentError(_spec_field(where, path, "containers"), "missing")
    return meta, name, pod_meta, spec


def _injected(annotations: Mapping[str, str], init: Any) -> str | None:
    """The ddtrace Datadog library injection installs: its annotations, else the tag of a
    ``dd-lib-python-init`` init container."""
    lib = annotations.get(signals.LIB_INJECTION_ANNOTATION) or (
        signals.lib_injection_of(annotations)
        if signals.LIB_CUSTOM_IMAGE_ANNOTATION in annotations
        else None
    )
    for ic in init:
        tag = signals.ddtrace_from_init_image(ic.image)
        if tag and not lib:
            lib = tag
    if not lib and signals.APPLIED_TARGET_ANNOTATION in annotations:
        # a pod Single Step Instrumentation mutated: the target the cluster agent applied
        lib = signals.python_of_applied_target(annotations[signals.APPLIED_TARGET_ANNOTATION])
    return lib


def _spec_platform(spec: WireSpec[Any], field: str) -> tuple[model.Platform, model.FactSource]:
    """The platform the pod spec's node selection allows, and its source."""
    selector = spec.nodeSelector
    if spec.affinity is None and (selector is None or selector.keys().isdisjoint(OS_KEYS)):
        # No affinity and no OS selector (the common case): Linux, maybe one arch.
        arch = selector.get(ARCH_KEYS[0]) or selector.get(ARCH_KEYS[1]) if selector else None
        return _linux_platform(arch), "node_selection" if arch else "default"
    raw_spec: dict[str, Any] = {}
    if spec.nodeSelector is not None:
        raw_spec["nodeSelector"] = spec.nodeSelector
    if spec.affinity is not None:
        raw_spec["affinity"] = spec.affinity
    return platform_of(raw_spec, field), "node_selection"


def _emit(
    signals_of: TemplateSignals,
    source: str,
    kind: str,
    namespace: str | None,
    name: str,
    labels: Mapping[str, str],
    out: model.ParseResult,
) -> None:
    """The workloads, errors, skipped and other-language containers of one template."""
    found, errors, skipped, not_python = signals_of
    # signals.label_pairs, for labels known to be strings
    label_pairs = tuple(sorted(labels.items())) if labels else ()
    append, make = out.workloads.append, model.WorkloadContainer
    for container, facts, exempt, image in found:
        append(make(source, kind, namespace, name, container, facts, label_pairs, exempt, image))
    for message, field in errors:
        out.errors.append(model.InputError(source, message, field))
    out.skipped_containers += skipped
    for container, language, reason in not_python:
        out.not_python.append(
            model.NotPython(source, kind, namespace, name, container, language, reason)
        )


def _spec_field(where: str, path: tuple[str, ...] | None, *rest: str) -> str:
    """The field path of a kind's pod spec (``spec.template.spec`` ...), for errors."""
    return _common.join(where, ".".join((*(path or ()), "spec", *rest)))


_NOT_UNDERSTOOD = "holds containers, but ddcompat does not read this kind: they are not judged"


def _not_understood(
    doc: Mapping[str, Any], source: str, where: str, at: str
) -> model.NotUnderstood:
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    api_version = doc.get("apiVersion")
    return model.NotUnderstood(
        source,
        str(doc.get("kind")),
        api_version if isinstance(api_version, str) else None,
        name if isinstance(name, str) else None,
        _common.join(where, at),
        _NOT_UNDERSTOOD,
    )


KNATIVE_SERVING = "serving.knative.dev/"
KNATIVE_CONTAINER = "user-container"  # the name Knative gives an unnamed container


def _knative_names(doc: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any]:
    """A Knative object whose containers have no name (Knative names a lone one
    ``user-container``), with the names filled in; any other object unchanged."""
    node: Any = doc
    for part in (*path, "spec"):
        node = node.get(part) if isinstance(node, Mapping) else None
    containers = node.get("containers") if isinstance(node, Mapping) else None
    if not isinstance(containers, list) or not any(
        isinstance(c, Mapping) and "name" not in c for c in containers
    ):
        return doc
    named = [
        {**c, "name": KNATIVE_CONTAINER if i == 0 else f"{KNATIVE_CONTAINER}-{i}"}
        if isinstance(c, Mapping) and "name" not in c
        else c
        for i, c in enumerate(containers)
    ]
    # rebuild the path down to the pod spec with the named containers
    built: dict[str, Any] = {**node, "containers": named}
    parents: list[Mapping[str, Any]] = [doc]
    for part in path:
        parents.append(parents[-1][part])
    for parent, part in zip(reversed(parents), reversed((*path, "spec")), strict=True):
        built = {**parent, part: built}
    return built


def _points_elsewhere(doc: Mapping[str, Any]) -> bool:
    """An Argo Rollout with ``workloadRef`` and no template: its Deployment is judged."""
    spec = doc.get("spec")
    return (
        doc.get("kind") == "Rollout"
        and isinstance(spec, Mapping)
        and spec.get("workloadRef") is not None
        and spec.get("template") is None
    )


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
    found = template_path(out["apiVersion"], kind or "")
    path = None if found is NOT_A_WORKLOAD else found
    if not path:
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


def built_by(
    image: str | None, links: Mapping[str, model.BuildLink] | None
) -> model.BuildLink | None:
    """The build link of an image: its repository, or the repository after a registry
    prefix (``gcr.io/acme/app`` is built as ``acme/app`` or ``app``)."""
    if not image or not links:
        return None
    repo = signals.split_image(image)[0].lower()
    parts = repo.split("/")
    for n in range(len(parts)):
        link = links.get("/".join(parts[n:]))
        if link is not None:
            return link
    return None


def _built(image: str | None, links: Mapping[str, model.BuildLink] | None) -> dict[str, Any]:
    """The ContainerInput hints of the Dockerfile that builds ``image`` (``build``)."""
    link = built_by(image, links)
    if link is None:
        return {}
    return {
        "ddtrace_hint": link.ddtrace,
        "python_hint": link.python,
        "ddtrace_source": "build",
        "python_source": "build",
        "frameworks_hint": link.frameworks,
    }


def _template_signals(
    annotations: tuple[tuple[str, str], ...],
    containers: tuple[ContainerKey, ...],
    platform: model.Platform,
    platform_source: model.FactSource,
    lib: str | None,
    skipped: int,
    default: str | None,
    other: tuple[str, str] | None = None,
    *,
    links: Mapping[str, model.BuildLink] | None = None,
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
            annotations=_annotations(annotations)
            if signals.cacheable(annotations)
            else signals.Annotations(dict(annotations), "metadata.annotations"),
            containers=[
                signals.ContainerInput(
                    name,
                    image,
                    dict(env),
                    lib_injection=signals.lib_injection_of(per_container, name)
                    if per_container
                    else None,
                    other_injection=(
                        signals.injected_language(per_container, name) if per_container else None
                    )
                    or (other if lib is None else None),
                    **_built(image, links),
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
        tuple((w.container, w.facts, w.exempt, w.image) for w in sub.workloads),
        tuple((e.message, e.field) for e in sub.errors),
        sub.skipped_containers,
        tuple((n.container, n.language, n.reason) for n in sub.not_python),
    )
