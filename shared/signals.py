"""Reading ddtrace/Python/feature signals as they appear in the wild.

Every descriptor format ends up here: annotations/labels/tags with the
``ddcompat.io/`` keys, container environment, image references, Datadog library
injection. Precedence (highest first) is the one in docs/contract.md: explicit
``ddcompat.io/`` values, then library injection, then what the image/runtime implies.

Per-container values use the Datadog autodiscovery form: ``ddcompat.io/<container>.<key>``
(for example ``ddcompat.io/web.ddtrace-version``) overrides ``ddcompat.io/<key>`` for
the container named ``web``.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Mapping
from typing import Literal, NamedTuple

import msgspec

from ddcompat.shared import model, precedence

PREFIX = "ddcompat.io/"
KEY_DDTRACE = "ddtrace-version"
KEY_PYTHON = "python-version"
KEY_FEATURES = "features"
KEY_FRAMEWORKS = "frameworks"
KEY_EXEMPT = "exempt"
KEY_MODE = "mode"
KEYS = (KEY_DDTRACE, KEY_PYTHON, KEY_FEATURES, KEY_FRAMEWORKS, KEY_EXEMPT)
# The longest value each key may hold (Kubernetes allows 256 KiB of annotations per
# object): a longer one is judged as a finding on that key, never read.
MAX_VALUE = {
    KEY_DDTRACE: 256,
    KEY_PYTHON: 64,
    KEY_FEATURES: 1024,
    KEY_FRAMEWORKS: 4096,
    KEY_EXEMPT: 1024,
}
_MAX_ANY_VALUE = max(MAX_VALUE.values())  # the longest value any key reads
ADMISSION_PREFIX = "admission.datadoghq.com/"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
# The annotations a judgement reads: keys with these prefixes, and the default container.
# Caches key on these alone (a last-applied-configuration of 100 KB is no part of a key).
READ_ANNOTATION_PREFIXES = (PREFIX, ADMISSION_PREFIX, DEFAULT_CONTAINER_ANNOTATION)


def cacheable(items: tuple[tuple[str, str], ...]) -> bool:
    """Whether read annotations may be part of a cache key: no value longer than any
    key may hold (an over-long one is a finding, judged each time, never kept)."""
    return all(len(v) <= _MAX_ANY_VALUE for _, v in items)


def read_annotations(annotations: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The (key, value) pairs of ``annotations`` that a judgement reads, in order."""
    return tuple(kv for kv in annotations.items() if kv[0].startswith(READ_ANNOTATION_PREFIXES))


LIB_INJECTION_ANNOTATION = "admission.datadoghq.com/python-lib.version"
LIB_CUSTOM_IMAGE_ANNOTATION = "admission.datadoghq.com/python-lib.custom-image"
# written by the cluster agent on pods Single Step Instrumentation mutated: the JSON of the
# target applied (DataDog/datadog-agent pkg/clusteragent/admission/common, AppliedTarget)
APPLIED_TARGET_ANNOTATION = "internal.apm.datadoghq.com/applied-target"
LIB_INIT_IMAGE = re.compile(r"(?:^|/)dd-lib-python-init(?::(?P<tag>[^@]+))?(?:@.*)?$")

# Web frameworks recognised in requirements/lock files. Only the matrix decides
# which are supported; this list only decides what is worth reading.
WEB_FRAMEWORKS = frozenset(
    {
        "django",
        "flask",
        "fastapi",
        "starlette",
        "tornado",
        "pyramid",
        "aiohttp",
        "sanic",
        "falcon",
        "bottle",
        "quart",
        "cherrypy",
        "litestar",
    }
)

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class SignalError(ValueError):
    """A ``ddcompat.io/`` value that cannot be read; ``field`` names the key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in _TRUE


def falsy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in _FALSE


_APPSEC_PREFIXES = ("DD_APPSEC", "DD_IAST")


class EnvSwitch(msgspec.Struct, frozen=True):
    """A container variable that turns a feature on: set to a true value (``on="true"``),
    to any non-empty value (``on="set"``), or to one of ``values``. ``with_remote_config``:
    only while Remote Configuration is on (DD_REMOTE_CONFIGURATION_ENABLED)."""

    variable: str
    feature: model.FeatureId
    on: Literal["true", "set", "one_of"] = "true"
    values: tuple[str, ...] = ()
    with_remote_config: bool = False

    def turns_on(self, raw: str | None, remote_config: bool | None) -> bool:
        if raw is None or (self.with_remote_config and not remote_config):
            return False
        if self.on == "true":
            return truthy(raw)
        if self.on == "set":
            return bool(raw)
        return raw.strip().lower() in self.values


# Which variable turns on which feature: a new variable is a new row.
REMOTE_CONFIG_ENV = "DD_REMOTE_CONFIGURATION_ENABLED"
ENV_SWITCHES: tuple[EnvSwitch, ...] = (
    EnvSwitch("DD_APPSEC_ENABLED", "threat_detection"),
    # AWS Lambda, extension-side (Datadog-Extension layer): monitoring only
    EnvSwitch("DD_SERVERLESS_APPSEC_ENABLED", "threat_detection"),
    EnvSwitch("DD_APPSEC_ENABLED", "threat_protection", with_remote_config=True),
    EnvSwitch("DD_APPSEC_HTTP_BLOCKED_TEMPLATE_HTML", "custom_blocking_response", on="set"),
    EnvSwitch("DD_APPSEC_HTTP_BLOCKED_TEMPLATE_JSON", "custom_blocking_response", on="set"),
    EnvSwitch("DD_APPSEC_SCA_ENABLED", "sca"),
    EnvSwitch("DD_IAST_ENABLED", "code_security"),
    EnvSwitch("DD_API_SECURITY_ENABLED", "api_security"),
    EnvSwitch("_DD_API_SECURITY_ENABLED", "api_security"),
    EnvSwitch("DD_EXPERIMENTAL_API_SECURITY_ENABLED", "api_security"),
    EnvSwitch("DD_APPSEC_RASP_ENABLED", "exploit_prevention"),
    EnvSwitch(
        "DD_APPSEC_AUTOMATED_USER_EVENTS_TRACKING",
        "user_activity_tracking",
        on="one_of",
        values=("safe", "extended"),
    ),
    EnvSwitch(
        "DD_APPSEC_AUTO_USER_INSTRUMENTATION_MODE",
        "user_activity_tracking",
        on="one_of",
        values=("identification", "anonymization"),
    ),
)
# variable -> the features it turns on
SWITCH_FEATURES: dict[str, frozenset[str]] = {
    v: frozenset(s.feature for s in ENV_SWITCHES if s.variable == v)
    for v in dict.fromkeys(s.variable for s in ENV_SWITCHES)
}
# The variables features_from_env reads, in the order its memo key lists their values.
_FEATURE_ENV = (REMOTE_CONFIG_ENV, *dict.fromkeys(s.variable for s in ENV_SWITCHES))
_SWITCH_INDEX = tuple((_FEATURE_ENV.index(s.variable), s) for s in ENV_SWITCHES)


# Variables with these prefixes are always read (see READ_ENV).
READ_ENV_PREFIXES = _APPSEC_PREFIXES


def features_from_env(env: Mapping[str, str]) -> tuple[frozenset[str], bool | None]:
    """Features enabled by ``DD_*`` variables, and the Remote Configuration switch."""
    reading = env_switches(env)
    return reading.features, reading.remote_config


class EnvReading(NamedTuple):
    """What a container's environment says: features turned on, Remote Configuration,
    and the switch variables set to turn a feature on, or to a false value."""

    features: frozenset[str]
    remote_config: bool | None
    on: frozenset[str]
    off: frozenset[str]


def env_switches(env: Mapping[str, str]) -> EnvReading:
    """:func:`features_from_env`, and which switch variables are set on or off."""
    # Containers of a fleet repeat a few combinations: judge each combination once.
    return _features_from_values(tuple(map(env.get, _FEATURE_ENV)))


@functools.lru_cache(maxsize=1024)
def _features_from_values(values: tuple[str | None, ...]) -> EnvReading:
    rc_raw = values[0]
    remote_config = True if truthy(rc_raw) else (False if falsy(rc_raw) else None)
    on = [switch for i, switch in _SWITCH_INDEX if switch.turns_on(values[i], remote_config)]
    return EnvReading(
        frozenset(s.feature for s in on),
        remote_config,
        frozenset(s.variable for s in on),
        frozenset(v for i, v in enumerate(_FEATURE_ENV) if i and falsy(values[i])),
    )


def parse_features(raw: str) -> frozenset[str]:
    """``threat_detection, sca`` -> the feature ids; ValueError names an unknown one."""
    out = set()
    for item in raw.split(","):
        name = item.strip().lower()
        if not name:
            continue
        if name not in model.FEATURES:
            raise ValueError(f"unknown feature {name!r} (known: {', '.join(model.FEATURES)})")
        out.add(name)
    return frozenset(out)


_FW_NAME = re.compile(r"[A-Za-z0-9_.\-]+(?:\[[^\]]*\])?")
_FW_OPS = ("==", "~=", ">=", "<=", "!=", ">", "<", "@", "=")
_FW_OP_CHARS = frozenset("=~<>@!")


@functools.lru_cache(maxsize=1024)
def parse_frameworks(raw: str) -> tuple[tuple[str, str], ...]:
    """``django==3.2.18,flask==2.3`` -> (("django", "3.2.18"), ("flask", "2.3")).
    Linear in the length of ``raw`` (split, scan, one bounded match per item)."""
    out: dict[str, str] = {}
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        at = next((i for i, ch in enumerate(item) if ch in _FW_OP_CHARS), len(item))
        name, rest = item[:at].strip(), item[at:]
        op = next((o for o in _FW_OPS if rest.startswith(o)), "") if rest else ""
        if not _FW_NAME.fullmatch(name) or (rest and not op):
            raise ValueError(f"cannot read framework {_short(item)!r} (use name==version)")
        name = name.split("[", 1)[0].lower().replace("_", "-")
        ver = rest[len(op) :].strip()
        if op in ("", "==", "=", "@"):
            out[name] = ver.lstrip("v")
        else:
            out[name] = f"{op}{ver}"
    return tuple(sorted(out.items()))


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def split_image(image: str) -> tuple[str, str | None]:
    """``repo/name:tag@sha256:..`` -> ("repo/name", "tag")."""
    ref = image.strip().split("@", 1)[0]
    last_slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > last_slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, None


# Python images whose name says the version: Red Hat/CentOS s2i (ubi9/python-311,
# centos/python-38-centos7), AWS SAM build images (sam/build-python3.12).
_NAME_VERSION = re.compile(
    r"(?:python-?([23])(\d{1,2})(?:-[a-z0-9]+)*|build-python([23])\.(\d{1,2}))"
)
# Repositories that are Python images, by their last path segment: the official
# `python` (any registry or namespace: library/python, lambda/python, bitnami/python,
# devcontainers/python, cimg/python) and AWS's Lambda base image on Docker Hub.
_PYTHON_REPOS = frozenset({"python", "aws-lambda-python"})
# A tag shaped like a Python version: 3.12, 3.12.7, 3.12-slim, 3.13.0rc2-alpine, 3;
# with the devcontainers image variant prefix (1-3.12-bookworm).
_PY_TAG = re.compile(
    r"(?:\d+-)?([23](?:\.\d{1,2}(?:\.\d{1,3})?)?)(?:(?:a|b|rc)\d{1,2})?(?:-[\w.-]*)?"
)
# A tag that names the Python of any image: uv:python3.12-bookworm-slim,
# tiangolo/uvicorn-gunicorn-fastapi:python3.11, ...:python3.11-slim
_PY_IN_TAG = re.compile(r"(?:[\w.]*-)?python([23])\.?(\d{1,2})(?:[-_.][\w.-]*)?")


class PythonImage(NamedTuple):
    """What an image reference says about Python: whether the image is a Python image,
    and the version its name or tag gives (``3`` for a floating major tag)."""

    is_python: bool
    version: str | None


def python_image(image: str | None) -> PythonImage:
    """:func:`_python_image` (cached for references of a sane length only)."""
    if not image or len(image) > MAX_IMAGE:
        return _NOT_PYTHON
    return _python_image(image)


# The longest image reference read (registry/repository:tag@digest is far shorter).
MAX_IMAGE = 512


@functools.lru_cache(maxsize=4096)
def _python_image(image: str) -> PythonImage:
    """Python only from images that are Python: official and well-known Python images
    and tags shaped like Python versions (``python:3.11-slim``, ``lambda/python:3.12``,
    ``ubi9/python-311``, ``devcontainers/python:1-3.12``, ``uv:python3.12-bookworm``,
    ``x:python3.11``). Any other repository (``acme/shop-python:18``) says nothing."""
    repo, tag = split_image(image)
    last = repo.rsplit("/", 1)[-1].lower()
    m = _NAME_VERSION.fullmatch(last)
    if m:
        major, minor = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        return PythonImage(True, f"{major}.{minor}")
    if tag:
        t = _PY_IN_TAG.fullmatch(tag.lower())
        if t:
            return PythonImage(True, f"{t.group(1)}.{t.group(2)}")
    if last in _PYTHON_REPOS:
        t = _PY_TAG.fullmatch(tag) if tag else None
        if t is None:
            return PythonImage(True, None)  # untagged, latest, slim, alpine: no version
        return PythonImage(True, t.group(1))
    return _NOT_PYTHON


_NOT_PYTHON = PythonImage(False, None)


def is_python_image(image: str | None) -> bool:
    return python_image(image)[0]


def python_from_image(image: str | None) -> str | None:
    """``python:3.11-slim`` -> ``3.11``; ``public.ecr.aws/lambda/python:3.12`` -> ``3.12``;
    ``python:3`` -> ``3`` (a floating tag)."""
    return python_image(image).version


class OtherLanguage(msgspec.Struct, frozen=True):
    """A sign that a container runs another language than Python: a Datadog tracer is
    configured the same way in every language (``DD_APPSEC_ENABLED``), so such a
    container is not judged. ``where``: the image repository (its last path segments),
    the Lambda runtime (a prefix), or an environment variable holding ``contains``."""

    language: str
    where: Literal["image", "runtime", "env", "injection"]
    match: str
    contains: tuple[str, ...] = ()


# One row per sign; images match the end of the repository path (after a "/"), runtimes
# their prefix, variables when their value holds every one of ``contains``.
OTHER_LANGUAGES: tuple[OtherLanguage, ...] = (
    *(
        OtherLanguage("Java", "image", repo)
        for repo in (
            "lambda/java",
            "eclipse-temurin",
            "openjdk",
            "amazoncorretto",
            "ibm-semeru-runtimes",
            "sapmachine",
            "tomcat",
            "jetty",
        )
    ),
    OtherLanguage("Node.js", "image", "node"),
    OtherLanguage("Node.js", "image", "lambda/nodejs"),
    OtherLanguage("Go", "image", "golang"),
    OtherLanguage("Go", "image", "lambda/go"),
    OtherLanguage(".NET", "image", "mcr.microsoft.com/dotnet/aspnet"),
    OtherLanguage(".NET", "image", "mcr.microsoft.com/dotnet/runtime"),
    OtherLanguage(".NET", "image", "mcr.microsoft.com/dotnet/sdk"),
    OtherLanguage(".NET", "image", "lambda/dotnet"),
    OtherLanguage("Ruby", "image", "ruby"),
    OtherLanguage("Ruby", "image", "lambda/ruby"),
    OtherLanguage("PHP", "image", "php"),
    OtherLanguage("a custom runtime", "image", "lambda/provided"),
    OtherLanguage("Node.js", "runtime", "nodejs"),
    OtherLanguage("Java", "runtime", "java"),
    OtherLanguage(".NET", "runtime", "dotnet"),
    OtherLanguage("Ruby", "runtime", "ruby"),
    OtherLanguage("Go", "runtime", "go1"),
    OtherLanguage("a custom runtime", "runtime", "provided"),
    *(
        OtherLanguage("Java", "env", var, ("-javaagent:", "dd-java-agent"))
        for var in (
            "JAVA_TOOL_OPTIONS",
            "JAVA_OPTS",
            "_JAVA_OPTIONS",
            "JDK_JAVA_OPTIONS",
            "CATALINA_OPTS",
        )
    ),
    OtherLanguage("Node.js", "env", "NODE_OPTIONS", ("dd-trace",)),
    OtherLanguage(".NET", "env", "CORECLR_ENABLE_PROFILING", ("1",)),
    # Datadog library injection of another language's tracer: the admission annotations
    # `admission.datadoghq.com/[<container>.]<match>-lib.version` (or `-lib.custom-image`),
    # or a `dd-lib-<match>-init` init container
    OtherLanguage("Java", "injection", "java"),
    OtherLanguage("Node.js", "injection", "js"),
    OtherLanguage(".NET", "injection", "dotnet"),
    OtherLanguage("Ruby", "injection", "ruby"),
    OtherLanguage("PHP", "injection", "php"),
    # the Datadog Agent's own containers carry Datadog settings too
    OtherLanguage("the Datadog Agent", "image", "datadoghq/agent"),
    OtherLanguage("the Datadog Agent", "image", "datadog/agent"),
    OtherLanguage("the Datadog Agent", "image", "datadoghq/cluster-agent"),
    OtherLanguage("the Datadog Agent", "image", "datadog/cluster-agent"),
    OtherLanguage("the Datadog Agent", "image", "datadoghq/dogstatsd"),
    OtherLanguage("the Datadog Agent", "image", "datadog/dogstatsd"),
)
_LANGUAGE_ENV = tuple(r for r in OTHER_LANGUAGES if r.where == "env")
_LANGUAGE_RUNTIMES = tuple(r for r in OTHER_LANGUAGES if r.where == "runtime")
_LANGUAGE_IMAGES = {r.match: r for r in OTHER_LANGUAGES if r.where == "image"}
_LANGUAGE_INJECTION = tuple(r for r in OTHER_LANGUAGES if r.where == "injection")


def injected_language(
    annotations: Mapping[str, str], container: str | None = None, init_images: Iterable[str] = ()
) -> tuple[str, str] | None:
    """(language, why) when Datadog library injection injects another language's tracer:
    into ``container`` (its per-container annotations), or into the pod (pod-level
    annotations or an init image) when ``container`` is None."""
    where = f"{ADMISSION_PREFIX}{container}." if container else ADMISSION_PREFIX
    images = tuple(init_images)
    for row in _LANGUAGE_INJECTION:
        for suffix in ("-lib.version", "-lib.custom-image"):
            key = f"{where}{row.match}{suffix}"
            if key in annotations:
                return row.language, f"{key} injects the {row.language} tracer"
        if container is None:
            init = f"dd-lib-{row.match}-init"
            for image in images:
                if init in image.rsplit("/", 1)[-1]:
                    return row.language, f"init container {image} injects the {row.language} tracer"
    return None


# The container variables that can change what the signals say (build_facts,
# looks_python, other_language): these names and names with READ_ENV_PREFIXES.
# Readers may drop the others.
READ_ENV = frozenset({*_FEATURE_ENV, "PYTHON_VERSION", *(r.match for r in _LANGUAGE_ENV)})


@functools.lru_cache(maxsize=4096)
def _image_language(image: str) -> OtherLanguage | None:
    repo = split_image(image)[0].lower()
    parts = repo.split("/")
    # the last segment, the last two (lambda/java), or the whole path
    # (mcr.microsoft.com/dotnet/aspnet)
    for n in (1, 2, 3, 4):
        row = _LANGUAGE_IMAGES.get("/".join(parts[-n:]))
        if row is not None:
            return row
    return None


def other_language(c: ContainerInput) -> tuple[str, str] | None:
    """(language, why) when the container clearly runs another language than Python."""
    if c.runtime:
        rt = c.runtime.strip().lower()
        for row in _LANGUAGE_RUNTIMES:
            if rt.startswith(row.match):
                return row.language, f"Lambda runtime {c.runtime} is {row.language}"
        return None  # a Python runtime, or one nobody knows: the image cannot overrule it
    if c.image and len(c.image) <= MAX_IMAGE:
        img = _image_language(c.image)
        if img is not None:
            return img.language, f"image {c.image} is {img.language}"
    if c.env:
        for row in _LANGUAGE_ENV:
            value = c.env.get(row.match)
            if value and all(part in value for part in row.contains):
                return row.language, f"{row.match} loads the {row.language} tracer"
    if c.other_injection is not None and not (
        c.lib_injection or c.ddtrace_hint or c.python_hint or python_image(c.image)[0]
    ):
        return c.other_injection
    return None


def ddtrace_from_init_image(image: str | None) -> str | None:
    if not image or len(image) > MAX_IMAGE:
        return None
    return _ddtrace_from_init_image(image)


@functools.lru_cache(maxsize=1024)
def _ddtrace_from_init_image(image: str) -> str | None:
    m = LIB_INIT_IMAGE.search(image.split("@", 1)[0] if "@" in image else image)
    if not m:
        return None
    tag = m.group("tag")
    if not tag or tag == "latest":
        return "latest"
    return tag


def python_of_applied_target(raw: str) -> str | None:
    """The Python tracer version of an applied target (``{"ddTraceVersions": {"python":
    "3"}}`` -> ``v3``), or None."""
    if len(raw) > 64 * 1024:
        return None
    import json

    try:
        target = json.loads(raw)
    except ValueError:
        return None
    versions_ = target.get("ddTraceVersions") if isinstance(target, dict) else None
    return injected_tag(versions_.get("python") if isinstance(versions_, dict) else None)


def injected_tag(raw: object) -> str | None:
    """A ``ddTraceVersions`` value (Single Step Instrumentation) as the injector image tag
    it selects: ``3`` -> ``v3`` (any 3.x), ``3.3.0`` -> ``v3.3.0``; ``default`` (the cluster
    agent's own default) is not known."""
    if raw is None or isinstance(raw, bool):
        return None
    text = str(raw).strip()
    if not text or text.lower() == "default":
        return None
    return "v" + text if text[0].isdigit() else text


def lib_injection_of(annotations: Mapping[str, str], container: str | None = None) -> str | None:
    """The ddtrace version Datadog library injection installs, from the pod's annotations
    (``python-lib.version``, else the tag of ``python-lib.custom-image``), or the
    per-container forms ``admission.datadoghq.com/<container>.python-lib.*``."""
    where = f"{ADMISSION_PREFIX}{container}." if container else ADMISSION_PREFIX
    return annotations.get(where + "python-lib.version") or ddtrace_from_init_image(
        annotations.get(where + "python-lib.custom-image")
    )


def python_from_lambda_runtime(runtime: str | None) -> str | None:
    """``python3.12`` -> ``3.12``."""
    if not runtime:
        return None
    m = re.fullmatch(r"\s*python(\d+)\.(\d+)\s*", runtime)
    return f"{m.group(1)}.{m.group(2)}" if m else None


_ARCH = {
    "amd64": "amd64",
    "x86_64": "amd64",
    "x86-64": "amd64",
    "x64": "amd64",
    "arm64": "arm64",
    "aarch64": "arm64",
    "arm64v8": "arm64",
    "arm": "arm",
    "armv7": "arm",
    "armv7l": "arm",
    "armhf": "arm",
    "arm32v7": "arm",
    "armv6": "arm",
    "arm32v6": "arm",
    "armel": "arm",
    "386": "386",
    "i386": "386",
    "i686": "386",
    "x86": "386",
    "s390x": "s390x",
    "ppc64le": "ppc64le",
    "riscv64": "riscv64",
    "mips64le": "mips64le",
}


@functools.lru_cache(maxsize=256)
def normalize_arch(raw: str) -> str:
    key = raw.strip().lower()
    return _ARCH.get(key, key)


def normalize_os(raw: str) -> str:
    key = raw.strip().lower()
    if key.startswith("windows"):
        return "windows"
    if key in ("darwin", "macos", "osx", "mac"):
        return "darwin"
    return key


def platform_from_string(raw: str | None) -> model.Platform | None:
    """``linux/arm64`` or ``linux/arm/v7`` -> Platform."""
    if not raw:
        return None
    parts = raw.strip().split("/")
    os_ = normalize_os(parts[0]) if parts[0] else None
    arch = (normalize_arch(parts[1]),) if len(parts) > 1 and parts[1] else ()
    return model.Platform(os_, arch)


class Annotations:
    """The ``ddcompat.io/`` values of one carrier (annotations, labels, tags), indexed
    once: general keys, and per-container keys ``ddcompat.io/<container>.<key>``."""

    __slots__ = ("containers", "general", "specific", "where")

    def __init__(self, values: Mapping[str, str], where: str) -> None:
        self.where = where  # how to name the carrier in errors: "metadata.annotations", "Tags"
        self.general: dict[str, str] = {}
        self.specific: dict[tuple[str, str], str] = {}
        # the containers named by per-container keys (one lookup per container, so reading
        # a pod stays linear in its annotations however many containers it has)
        self.containers: set[str] = set()
        for k, v in values.items():
            if not k.startswith(PREFIX):
                continue
            rest = k[len(PREFIX) :]
            if rest in KEYS:
                self.general[rest] = v
            elif "." in rest:
                container, key = rest.rsplit(".", 1)
                if key in KEYS:
                    self.specific[(container, key)] = v
                    self.containers.add(container)

    def get(self, container: str, key: str) -> str | None:
        """The value for this container (per-container first), or None."""
        if self.specific:
            v = self.specific.get((container, key))
            if v is not None:
                return v
        return self.general.get(key)

    def field(self, container: str, key: str) -> str:
        """The key a value came from, to name it in an error."""
        if (container, key) in self.specific:
            return f"{self.where}[{PREFIX}{container}.{key}]"
        return f"{self.where}[{PREFIX}{key}]"

    def has_container_specific(self, container: str) -> bool:
        return container in self.containers

    def has_general(self) -> bool:
        return any(k != KEY_EXEMPT for k in self.general)


class ContainerInput(msgspec.Struct):
    """Everything one parser knows about one container, before precedence is applied."""

    name: str
    image: str | None = None
    env: Mapping[str, str] = msgspec.field(default_factory=dict)
    # Datadog library injection for this container alone (per-container annotations)
    lib_injection: str | None = None
    # Lower-precedence facts a format may know (Dockerfile pip pins, lock files, Lambda runtime).
    ddtrace_hint: str | None = None
    python_hint: str | None = None
    # where the hints came from
    ddtrace_source: model.FactSource = "dockerfile"
    python_source: model.FactSource = "dockerfile"
    # the Python and the version of a Datadog Lambda layer attached to the function
    layer_python: str | None = None
    lambda_layer: int | None = None
    frameworks_hint: tuple[tuple[str, str], ...] | None = None
    # the Lambda runtime (python3.12, nodejs20.x, provided.al2023)
    runtime: str | None = None
    # (language, why) when library injection injects another language's tracer here
    other_injection: tuple[str, str] | None = None


def looks_python(c: ContainerInput, ann: Annotations) -> bool:
    if ann.has_container_specific(c.name):
        return True
    if c.ddtrace_hint or c.python_hint or c.lib_injection or python_image(c.image)[0]:
        return True
    return any(map(str.startswith, c.env, itertools.repeat(_APPSEC_PREFIXES)))


def build_facts(
    deployment_type: model.DeploymentType,
    c: ContainerInput,
    ann: Annotations,
    *,
    platform: model.Platform,
    lib_injection: str | None = None,
    platform_source: model.FactSource = "default",
) -> tuple[model.Facts, str | None] | None:
    """Facts for one container (and its exemption), or None when it has no signal.

    Raises :class:`SignalError` naming the field for unreadable ``ddcompat.io/`` values.
    """
    name = c.name
    if ann.general or ann.specific:
        for key in KEYS:
            raw_value = ann.get(name, key)
            if raw_value is not None and len(raw_value) > MAX_VALUE[key]:
                raise SignalError(
                    ann.field(name, key),
                    f"value too long ({len(raw_value)} characters; at most {MAX_VALUE[key]})",
                )
    # (which of them wins: the precedence table)
    ddtrace, ddtrace_source = precedence.first(
        "ddtrace",
        (
            (ann.get(name, KEY_DDTRACE), "annotation"),
            (c.lib_injection or lib_injection, "library_injection"),
            (c.ddtrace_hint, c.ddtrace_source),
        ),
    )
    python, python_source = precedence.first(
        "python",
        (
            (ann.get(name, KEY_PYTHON), "annotation"),
            (c.python_hint, c.python_source),
            (python_from_image(c.image), "image_tag"),
            (c.env.get("PYTHON_VERSION"), "env"),
        ),
    )
    env_features, remote_config, settings, switched_off = env_switches(c.env) if c.env else _NO_ENV
    features = env_features
    raw = ann.get(name, KEY_FEATURES)
    if raw:
        try:
            features = features | parse_features(raw)
        except ValueError as exc:
            raise SignalError(ann.field(name, KEY_FEATURES), str(exc)) from None
    frameworks = c.frameworks_hint
    raw = ann.get(name, KEY_FRAMEWORKS)
    if raw:
        try:
            frameworks = parse_frameworks(raw)
        except ValueError as exc:
            raise SignalError(ann.field(name, KEY_FRAMEWORKS), str(exc)) from None
    exempt = ann.get(name, KEY_EXEMPT)
    if not (features or ddtrace or python or is_python_image(c.image)):
        return None
    facts = model.Facts(
        deployment_type=deployment_type,
        ddtrace=ddtrace.strip() if ddtrace else None,
        python=python.strip() if python else None,
        platform=platform,
        features=features,
        frameworks=frameworks,
        remote_config=remote_config,
        settings=settings,
        switched_off=switched_off,
        layer_python=c.layer_python,
        lambda_layer=c.lambda_layer,
        sources=_sources(
            ddtrace_source if ddtrace else None,
            python_source if python else None,
            platform_source if platform.os is not None else None,
        ),
    )
    return facts, (exempt.strip() or "exempt") if exempt is not None else None


_NO_ENV = EnvReading(frozenset(), None, frozenset(), frozenset())


@functools.lru_cache(maxsize=256)
def _sources(
    ddtrace: model.FactSource | None,
    python: model.FactSource | None,
    platform: model.FactSource | None,
) -> model.FactSources:
    return model.FactSources(ddtrace, python, platform)


def label_pairs(labels: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    if not labels:
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))
