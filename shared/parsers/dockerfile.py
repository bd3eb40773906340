"""Dockerfiles: the final stage's base image (FROM, with ARG defaults), ENV, LABEL,
``pip install ddtrace==X`` in RUN, and the lock/requirements files beside it."""

from __future__ import annotations

import posixpath
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
    workdir: str = "/"
    dirs: list[str] = msgspec.field(default_factory=list)  # every WORKDIR so far
    # COPY/ADD: (sources as written, absolute destination, the stage copied from or None)
    copies: list[tuple[tuple[str, ...], str, str | None]] = msgspec.field(default_factory=list)


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
    # the build-context files the final image's requirements and lock files come from
    # (context-relative, as COPY/ADD name them)
    context_files: list[str] = msgspec.field(default_factory=list)


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
                stage.python, stage.workdir = parent.python, parent.workdir
                stage.dirs = list(parent.dirs)
                stage.copies = list(parent.copies)
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
            st.requirements.extend(posixpath.join(st.workdir, r) for r in reqs)
            st.python = _distro.installed_python(command) or st.python
        elif instr == "WORKDIR":
            st.workdir = posixpath.normpath(
                posixpath.join(
                    st.workdir, _subst(args.strip(), ChainMap(st.env, variables), lineno)
                )
            )
            st.dirs.append(st.workdir)
        elif instr in ("COPY", "ADD") and len(st.copies) < MAX_COPIES:
            copy = _copy(
                _subst(args, ChainMap(st.env, variables), lineno),
                st.workdir,
                frozenset({st.workdir, *st.dirs}),
            )
            if copy is not None:
                st.copies.append(copy)
    if not stages:
        raise _common.DocumentError("FROM", "no FROM instruction: not a Dockerfile")
    last = stages[-1]
    context_files = _context_files(last, by_alias, 0)
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
        context_files,
    )


MAX_COPIES = 256
# what is worth following from the image back to the build context
_WANTED = re.compile(r"(^|/)(requirements[^/]*\.txt|constraints[^/]*\.txt)$")


def _copy(
    args: str, workdir: str, dirs: frozenset[str] = frozenset()
) -> tuple[tuple[str, ...], str, str | None] | None:
    """``COPY [--from=x] [--chown=..] src... dest`` -> (sources, absolute dest, from)."""
    try:
        tokens = shlex.split(args)
    except ValueError:
        tokens = args.split()
    if tokens[:1] and tokens[0].startswith("["):  # the JSON form
        try:
            import json

            tokens = [str(t) for t in json.loads(args)]
        except ValueError:
            return None
    source_stage = None
    while tokens and tokens[0].startswith("--"):
        flag = tokens.pop(0)
        if flag.startswith("--from="):
            source_stage = flag.split("=", 1)[1]
    if len(tokens) < 2 or any("://" in t for t in tokens):
        return None  # ADD of a URL: nothing of the context
    *sources, dest = tokens
    full = posixpath.normpath(posixpath.join(workdir, dest))
    # a folder: written so, several sources, or a WORKDIR (`COPY requirements.txt /home`
    # after `WORKDIR /home` puts the file in it)
    if dest.endswith("/") or dest in (".", "./") or len(sources) > 1 or full in dirs:
        full = full.rstrip("/") + "/"
    return tuple(sources), full, source_stage


def _source_of(
    path: str, copies: list[tuple[tuple[str, ...], str, str | None]]
) -> tuple[str, str | None] | None:
    """The (source path, stage or None for the context) an image path was copied from
    (the last COPY that wrote it wins)."""
    for sources, dest, stage in reversed(copies):
        for src in sources:
            if "*" in src or "?" in src:
                if dest.endswith("/") and posixpath.dirname(path) + "/" == dest:
                    import fnmatch

                    if fnmatch.fnmatch(posixpath.basename(path), posixpath.basename(src)):
                        return posixpath.join(
                            posixpath.dirname(src), posixpath.basename(path)
                        ), stage
                continue
            if dest.endswith("/"):
                # a file into a folder, or a folder's content (COPY . /app/)
                if posixpath.join(dest, posixpath.basename(src.rstrip("/"))) == path:
                    return src, stage
                if path.startswith(dest):
                    return posixpath.join(src, path[len(dest) :]), stage
            elif dest == path:
                return src, stage
    return None


def _context_files(st: Stage, by_alias: Mapping[str, Stage], depth: int) -> list[str]:
    """The context files the requirements a stage installs, and the lock and
    requirements files it copies, come from (through ``COPY --from`` stages)."""
    wanted = list(st.requirements)
    for sources, dest, _ in st.copies:
        for src in sources:
            name = posixpath.basename(src.rstrip("/"))
            if name in lockfiles.LOCK_NAMES or _WANTED.search(name):
                wanted.append(posixpath.join(dest, name) if dest.endswith("/") else dest)
    out: list[str] = []
    for path in wanted:
        found = _source_of(posixpath.normpath(path), st.copies)
        if found is None:
            continue
        src, stage = found
        if stage is None:
            out.append(posixpath.normpath(src.lstrip("/")))
        elif depth < 8 and stage in by_alias:
            # copied from another stage: where that stage got it
            inner = by_alias[stage]
            back = _source_of(posixpath.normpath(posixpath.join("/", src)), inner.copies)
            if back is not None and back[1] is None:
                out.append(posixpath.normpath(back[0].lstrip("/")))
    return list(dict.fromkeys(out))


def container_input(
    path: Path,
    name: str,
    *,
    env: dict[str, str] | None = None,
    build_args: dict[str, str] | None = None,
    text: str | None = None,
    context: Path | None = None,
) -> tuple[signals.ContainerInput, Image, lockfiles.Pins]:
    """What a Dockerfile (and the files beside it) say about the container it builds;
    ``text``: the Dockerfile's content when it is not read from ``path`` (inline)."""
    image = read(read_text(path) if text is None else text, build_args)
    root = (context or path.parent).resolve()
    try:
        pins = lockfiles.pins_beside(path.parent)
        for rel in image.context_files:
            f = (root / rel).resolve()
            # never outside the build context (COPY ../../etc/passwd names nothing)
            if f.is_relative_to(root) and f.is_file():
                lockfiles.read_any(f, pins)
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


def build_link(
    image: str, source: str, c: signals.ContainerInput, img: Image, dockerfile: str = ""
) -> model.BuildLink:
    """The link a build file makes between an image name and what its Dockerfile says."""
    return model.BuildLink(
        image=signals.split_image(image)[0],
        source=source,
        dockerfile=dockerfile or (img.alias or ""),
        ddtrace=c.ddtrace_hint,
        python=c.python_hint,
        frameworks=c.frameworks_hint,
    )


def link_images(
    dpath: Path, images: list[str], source: str, out: model.ParseResult, context: Path
) -> None:
    """A build file says ``dpath`` builds ``images`` (skaffold, CI workflows): link each
    to what the Dockerfile says, and report the Dockerfile through them."""
    c, img, _ = container_input(dpath, images[0], context=context)
    for image in images:
        out.build_links.append(build_link(image, source, c, img, str(dpath)))
    out.built_dockerfiles.add(str(dpath.resolve()))


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
