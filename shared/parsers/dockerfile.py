"""Dockerfiles: the final stage's base image (FROM, with ARG defaults), ENV, LABEL,
``pip install ddtrace==X`` in RUN, and the lock/requirements files beside it."""

from __future__ import annotations

import re
import shlex
from collections import ChainMap
from collections.abc import Mapping
from pathlib import Path

import msgspec

from ddcompat.shared import model, signals, versions
from ddcompat.shared.parsers import _common, _distro, _interpolate, lockfiles

NAME_PATTERNS = ("Dockerfile", "Containerfile")
_NAMES = ("dockerfile", "containerfile")


def is_dockerfile(path: Path) -> bool:
    return is_dockerfile_name(path.name)


def is_dockerfile_name(n: str) -> bool:
    """``Dockerfile``, ``dockerfile``, ``Dockerfile.web``, ``Dockerfile-web``,
    ``Dockerfile_py311``, ``web.Dockerfile``, ``Containerfile``..., in any case; not
    ``Dockerfile.dockerignore``."""
    low = n.lower()
    if low.endswith(".dockerignore"):
        return False
    return (
        low in _NAMES
        or low.startswith(tuple(f"{b}{sep}" for b in _NAMES for sep in ".-_"))
        or low.endswith(tuple(f".{b}" for b in _NAMES))
    )


def looks_like_dockerfile(text: str) -> bool:
    """Whether text reads as a Dockerfile: its first instruction is FROM or ARG (after
    comments and parser directives)."""
    for raw in text.splitlines()[:200]:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        word = words[0].upper()
        if word == "FROM":
            # FROM [--platform=...] image [AS name]: not Python's `from x import y`
            rest = [w for w in words[1:] if not w.startswith("--")]
            return len(rest) == 1 or (len(rest) == 3 and rest[1].upper() == "AS")
        return word == "ARG"
    return False


class Stage(msgspec.Struct):
    base: str | None
    alias: str | None
    platform: str | None
    env: dict[str, str] = msgspec.field(default_factory=dict)
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    ddtrace: str | None = None
    requirements: list[str] = msgspec.field(default_factory=list)
    # the Python a RUN installs with the package manager ("3": the distribution's python3)
    python: str | None = None


class Image(msgspec.Struct):
    """The final stage with its inherited settings resolved. ``base`` is None when the
    FROM line names a build argument with no value; ``notes`` say which facts were left
    unknown and why ((field, message) pairs, reported as warnings)."""

    base: str | None
    alias: str | None
    platform: str | None
    env: dict[str, str]
    labels: dict[str, str]
    ddtrace: str | None
    requirements: list[str]
    notes: list[tuple[str, str]] = msgspec.field(default_factory=list)
    # the minor of the Python the package manager installed, when known (``_distro``)
    installed_python: str | None = None


class _Subst:
    """Expands the references of one Dockerfile, within one growth budget, and notes the
    values left empty for being too long."""

    def __init__(self, notes: list[tuple[str, str]]) -> None:
        self.notes = notes
        self.budget = _interpolate.Budget()

    def __call__(self, text: str, variables: Mapping[str, str], lineno: int) -> str:
        got = _interpolate.expand(text, variables, budget=self.budget)
        if got.too_long and len(self.notes) < MAX_NOTES:
            self.notes.append(
                (
                    f"line {lineno}",
                    f"{', '.join(got.too_long)}: too long once expanded (more than "
                    f"{_interpolate.MAX_TEXT} characters, or past the file's expansion "
                    "budget); left empty",
                )
            )
        return got.text


MAX_NOTES = 100


def _logical_lines(text: str) -> list[tuple[int, str]]:
    escape = "\\"
    lines = text.splitlines()
    for raw in lines[:5]:
        m = re.match(r"^#\s*escape\s*=\s*(\S)", raw)
        if m:
            escape = m.group(1)
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    heredoc: str | None = None
    for i, raw in enumerate(lines, 1):
        if heredoc is not None:  # the body of a RUN <<EOF heredoc: not instructions
            if raw.strip() == heredoc:
                heredoc = None
            continue
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if not buf:
            start = i
        if stripped.endswith(escape):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        out.append((start, buf))
        m = _HEREDOC.search(buf)
        if m:
            heredoc = m.group(1)
        buf = ""
    if buf:
        out.append((start, buf))
    return out


_HEREDOC = re.compile(r"<<-?[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?")


def _pairs(args: str) -> dict[str, str]:
    """``k=v k2="v 2"`` or legacy ``k v`` (ENV/LABEL)."""
    try:
        tokens = shlex.split(args, posix=True)
    except ValueError:
        tokens = args.split()
    if tokens and "=" not in tokens[0]:
        return {tokens[0]: args.split(None, 1)[1].strip() if len(tokens) > 1 else ""}
    out = {}
    for tok in tokens:
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k] = v
    return out


_PIP = re.compile(r"\b(?:pip3?|python3?\s+-m\s+pip|uv\s+pip|poetry)\s+(?:install|add)\b")
_DDTRACE_REQ = re.compile(r"^ddtrace(\[[^\]]*\])?(?:\s*(==|~=|>=|<=|>|<|!=|@)\s*(.*))?$", re.I)


def pip_pins(command: str) -> tuple[str | None, list[str]]:
    """ddtrace spec (``unpinned`` for a bare ``ddtrace``) and ``-r`` files of the pip
    installs in one RUN command."""
    ddtrace: str | None = None
    reqs: list[str] = []
    for part in re.split(r"&&|;|\|\|", command):
        if not _PIP.search(part):
            continue
        try:
            tokens = shlex.split(part)
        except ValueError:
            tokens = part.split()
        for i, tok in enumerate(tokens):
            if tok in ("-r", "--requirement", "-c", "--constraint") and i + 1 < len(tokens):
                reqs.append(tokens[i + 1])
            m = _DDTRACE_REQ.match(tok)
            if m:
                op, ver = m.group(2), (m.group(3) or "").strip()
                if op == "==":
                    ddtrace = ver
                elif op is None or not ver:
                    ddtrace = versions.UNPINNED
                elif op != "@":
                    ddtrace = f"{op}{ver}"
    return ddtrace, reqs


def read(text: str, build_args: dict[str, str] | None = None) -> Image:
    variables: dict[str, str] = dict(build_args or {})
    stages: list[Stage] = []
    by_alias: dict[str, Stage] = {}
    notes: list[tuple[str, str]] = []
    _subst = _Subst(notes)
    for lineno, line in _logical_lines(text):
        parts = line.split(None, 1)
        instr = parts[0].upper()
        args = parts[1] if len(parts) > 1 else ""
        if instr == "ARG":
            for k, v in _pairs(args).items():
                if k not in variables and (v or "=" in args):
                    variables[k] = _subst(v, variables, lineno)
            continue
        if instr == "FROM":
            tokens = args.split()
            platform = None
            while tokens and tokens[0].startswith("--"):
                flag = tokens.pop(0)
                if flag.startswith("--platform="):
                    got = _interpolate.expand(
                        flag.split("=", 1)[1], variables, budget=_subst.budget
                    )
                    # --platform=$TARGETPLATFORM: set by the build, unknown here
                    platform = got.text if got.text and not got.unresolved else None
            if not tokens:
                raise _common.DocumentError(f"line {lineno}", "FROM without an image")
            raw_base = tokens[0]
            got = _interpolate.expand(raw_base, variables, budget=_subst.budget)
            base: str | None = got.text
            if got.unresolved or not got.text:
                base = None
                names = ", ".join(got.unresolved) or raw_base
                notes.append(
                    (
                        f"line {lineno}",
                        f"FROM {raw_base}: the base image is the build argument {names}, "
                        "which has no value here; the base image's facts are unknown",
                    )
                )
            alias = tokens[2] if len(tokens) >= 3 and tokens[1].upper() == "AS" else None
            stage = Stage(base=base, alias=alias, platform=platform)
            parent = by_alias.get(base) if base is not None else None
            if parent is not None:
                stage.base, stage.platform = parent.base, platform or parent.platform
                stage.env, stage.labels = dict(parent.env), dict(parent.labels)
                stage.ddtrace, stage.requirements = parent.ddtrace, list(parent.requirements)
                stage.python = parent.python
            stages.append(stage)
            if alias:
                by_alias[alias] = stage
            continue
        if not stages:
            continue
        st = stages[-1]
        if instr == "ENV":
            # (a view, not a copy per line: many ENV lines stay linear)
            scope = ChainMap(st.env, variables)
            st.env.update({k: _subst(v, scope, lineno) for k, v in _pairs(args).items()})
        elif instr == "LABEL":
            st.labels.update({k: _subst(v, variables, lineno) for k, v in _pairs(args).items()})
        elif instr == "RUN":
            command = _subst(args, ChainMap(st.env, variables), lineno)
            ddt, reqs = pip_pins(command)
            if ddt:
                st.ddtrace = ddt
            st.requirements.extend(reqs)
            st.python = _distro.installed_python(command) or st.python
    if not stages:
        raise _common.DocumentError("FROM", "no FROM instruction: not a Dockerfile")
    last = stages[-1]
    installed = last.python
    if installed == "3":  # the distribution's python3: its release says which
        installed = _distro.distro_python(last.base)
    return Image(
        last.base,
        last.alias,
        last.platform,
        last.env,
        last.labels,
        last.ddtrace,
        last.requirements,
        notes,
        installed,
    )


def container_input(
    path: Path,
    name: str,
    *,
    env: dict[str, str] | None = None,
    build_args: dict[str, str] | None = None,
    text: str | None = None,
) -> tuple[signals.ContainerInput, Image, lockfiles.Pins]:
    """What a Dockerfile (and the files beside it) say about the container it builds;
    ``text``: the Dockerfile's content when it is not read from ``path`` (inline)."""
    image = read(read_text(path) if text is None else text, build_args)
    try:
        pins = lockfiles.pins_beside(path.parent, image.requirements)
    except lockfiles.LockFileError as exc:
        raise _common.DocumentError(str(exc.path), str(exc)) from None
    merged_env = {**image.env, **(env or {})}
    # a pin in a lock file says more than an unpinned `pip install ddtrace`
    from_lock = image.ddtrace in (None, versions.UNPINNED) and pins.ddtrace is not None
    return (
        signals.ContainerInput(
            name=name,
            image=image.base,
            env=merged_env,
            ddtrace_hint=pins.ddtrace if from_lock else image.ddtrace,
            ddtrace_source="lockfile" if from_lock else "dockerfile",
            python_hint=signals.python_from_image(image.base) or image.installed_python,
            frameworks_hint=pins.framework_facts(),
        ),
        image,
        pins,
    )


def read_text(path: Path) -> str:
    """A Dockerfile's text: UTF-8, or UTF-16 with its byte-order mark."""
    data = _common.read_regular(path, MAX_DOCKERFILE_BYTES)
    return _common.decode_text(data)


MAX_DOCKERFILE_BYTES = 4 << 20


# Base images that make the container a Lambda function (AWS's Lambda base images).
LAMBDA_BASES = ("public.ecr.aws/lambda/", "amazon/aws-lambda-", "docker.io/amazon/aws-lambda-")


def is_lambda_base(image: str | None) -> bool:
    return image is not None and image.lower().startswith(LAMBDA_BASES)


def parse(path: Path, source: str, out: model.ParseResult) -> None:
    name = path.parent.resolve().name or "app"
    try:
        c, image, _ = container_input(path, name)
    except _common.DocumentError as exc:
        out.errors.append(model.InputError(source, str(exc), exc.field))
        return
    out.warnings.extend(model.InputError(source, message, field) for field, message in image.notes)
    # a Dockerfile by another name is named by its file (two in one folder stay apart)
    c.name = path.name if path.name not in NAME_PATTERNS else (image.alias or name)
    lambda_image = is_lambda_base(image.base)
    if lambda_image:
        c.python_source = "image_tag"
    _common.emit(
        _common.Group(
            source=source,
            deployment_type="lambda" if lambda_image else "docker",
            kind="Dockerfile",
            namespace=None,
            name=name,
            annotations=signals.Annotations(image.labels, "LABEL"),
            containers=[c],
            platform=signals.platform_from_string(image.platform) or model.Platform("linux", ()),
            platform_source="dockerfile" if image.platform else "default",
        ),
        out,
    )
