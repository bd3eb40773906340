"""Dockerfiles: the final stage's base image (FROM, with ARG defaults), ENV, LABEL,
``pip install ddtrace==X`` in RUN, and the lock/requirements files beside it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import msgspec

from ddcompat.shared import model, signals
from ddcompat.shared.parsers import _common, lockfiles

NAME_PATTERNS = ("Dockerfile", "Containerfile")


def is_dockerfile(path: Path) -> bool:
    return is_dockerfile_name(path.name)


def is_dockerfile_name(n: str) -> bool:
    return (
        n in NAME_PATTERNS
        or n.startswith(("Dockerfile.", "Containerfile."))
        or n.endswith((".Dockerfile", ".dockerfile"))
    )


class Stage(msgspec.Struct):
    base: str
    alias: str | None
    platform: str | None
    env: dict[str, str] = msgspec.field(default_factory=dict)
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    ddtrace: str | None = None
    requirements: list[str] = msgspec.field(default_factory=list)


class Image(msgspec.Struct):
    """The final stage with its inherited settings resolved."""

    base: str
    alias: str | None
    platform: str | None
    env: dict[str, str]
    labels: dict[str, str]
    ddtrace: str | None
    requirements: list[str]


_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+][^}]*)?\}|([A-Za-z_][A-Za-z0-9_]*))")


def _subst(text: str, variables: dict[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        whole = m.group(0)
        if name in variables:
            return variables[name]
        default = re.match(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", whole)
        return default.group(1) if default else whole

    return _VAR.sub(repl, text)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    escape = "\\"
    lines = text.splitlines()
    for raw in lines[:5]:
        m = re.match(r"^#\s*escape\s*=\s*(\S)", raw)
        if m:
            escape = m.group(1)
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for i, raw in enumerate(lines, 1):
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
        buf = ""
    if buf:
        out.append((start, buf))
    return out


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


def _pip_pins(command: str) -> tuple[str | None, list[str]]:
    """ddtrace spec and ``-r`` files of the pip installs in one RUN command."""
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
            m = re.match(r"^ddtrace(\[[^\]]*\])?\s*(==|~=|>=|<=|>|<|@)?\s*(.*)$", tok, re.I)
            if m:
                op, ver = m.group(2), m.group(3)
                if op == "==":
                    ddtrace = ver
                elif op != "@":
                    ddtrace = f"{op}{ver}"
    return ddtrace, reqs


def read(text: str, build_args: dict[str, str] | None = None) -> Image:
    variables: dict[str, str] = dict(build_args or {})
    stages: list[Stage] = []
    by_alias: dict[str, Stage] = {}
    for lineno, line in _logical_lines(text):
        parts = line.split(None, 1)
        instr = parts[0].upper()
        args = parts[1] if len(parts) > 1 else ""
        if instr == "ARG":
            for k, v in _pairs(args).items():
                variables.setdefault(k, v)
            continue
        if instr == "FROM":
            tokens = _subst(args, variables).split()
            platform = None
            while tokens and tokens[0].startswith("--"):
                flag = tokens.pop(0)
                if flag.startswith("--platform="):
                    platform = flag.split("=", 1)[1]
            if not tokens:
                raise _common.DocumentError(f"line {lineno}", "FROM without an image")
            alias = tokens[2] if len(tokens) >= 3 and tokens[1].upper() == "AS" else None
            stage = Stage(base=tokens[0], alias=alias, platform=platform)
            parent = by_alias.get(tokens[0])
            if parent is not None:
                stage.base, stage.platform = parent.base, platform or parent.platform
                stage.env, stage.labels = dict(parent.env), dict(parent.labels)
                stage.ddtrace, stage.requirements = parent.ddtrace, list(parent.requirements)
            stages.append(stage)
            if alias:
                by_alias[alias] = stage
            continue
        if not stages:
            continue
        st = stages[-1]
        if instr == "ENV":
            st.env.update({k: _subst(v, {**variables, **st.env}) for k, v in _pairs(args).items()})
        elif instr == "LABEL":
            st.labels.update({k: _subst(v, variables) for k, v in _pairs(args).items()})
        elif instr == "RUN":
            ddt, reqs = _pip_pins(_subst(args, {**variables, **st.env}))
            if ddt:
                st.ddtrace = ddt
            st.requirements.extend(reqs)
    if not stages:
        raise _common.DocumentError("FROM", "no FROM instruction: not a Dockerfile")
    last = stages[-1]
    return Image(
        last.base, last.alias, last.platform, last.env, last.labels, last.ddtrace, last.requirements
    )


def container_input(
    path: Path,
    name: str,
    *,
    env: dict[str, str] | None = None,
    build_args: dict[str, str] | None = None,
) -> tuple[signals.ContainerInput, Image, lockfiles.Pins]:
    """What a Dockerfile (and the files beside it) say about the container it builds."""
    image = read(path.read_text(encoding="utf-8", errors="replace"), build_args)
    try:
        pins = lockfiles.pins_beside(path.parent, image.requirements)
    except lockfiles.LockFileError as exc:
        raise _common.DocumentError(str(exc.path), str(exc)) from None
    merged_env = {**image.env, **(env or {})}
    return (
        signals.ContainerInput(
            name=name,
            image=image.base,
            env=merged_env,
            ddtrace_hint=image.ddtrace or pins.ddtrace,
            ddtrace_source="dockerfile" if image.ddtrace else "lockfile",
            python_hint=signals.python_from_image(image.base),
            frameworks_hint=pins.framework_facts(),
        ),
        image,
        pins,
    )


def parse(path: Path, source: str, out: model.ParseResult) -> None:
    name = path.parent.resolve().name or "app"
    try:
        c, image, _ = container_input(path, name)
    except _common.DocumentError as exc:
        out.errors.append(model.InputError(source, str(exc), exc.field))
        return
    c.name = image.alias or (path.name if path.name not in NAME_PATTERNS else name)
    _common.emit(
        _common.Group(
            source=source,
            deployment_type="docker",
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
