"""docker-compose / Compose Specification files, read as Docker Compose reads them.

Variables are interpolated first (``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``...,
``$$``) from the ``.env`` beside the file, or from ``--env-file`` files when given (the
process environment is not read: a report does not depend on the shell it ran in).
A service's ``extends`` (same file or another) is merged in, ``env_file`` entries are read
into its environment (``environment`` wins), and a ``build`` context is read through its
Dockerfile (or ``dockerfile_inline``) with the build args. What cannot be known from the
files (a build context that is a URL or an unset variable, a missing Dockerfile, a base
image from an unset build argument) leaves those facts unknown, with a warning naming the
field; it is never an input error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from ddcompat.shared import model, signals
from ddcompat.shared.parsers import _common, _envfile, _interpolate, dockerfile

# How deep `extends` may chain (Compose itself rejects cycles).
MAX_EXTENDS = 10
# Bytes read from one env file / one extended compose file.
MAX_FILE_BYTES = 4 << 20


class Options(msgspec.Struct, frozen=True):
    """How compose files are read: variables from these env files instead of ``.env``."""

    env_files: tuple[str, ...] = ()


DEFAULT_OPTIONS = Options()


def matches(doc: Mapping[str, Any]) -> bool:
    services = doc.get("services")
    return isinstance(services, Mapping) and "apiVersion" not in doc and "Resources" not in doc


def read_env_file(
    path: Path, known: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """``KEY=value`` lines as Docker reads them (quotes, comments, ``export``), and the
    problems met (each naming the file and line); values that reference other variables
    are expanded from the file itself and ``known`` (never the process environment)."""
    data = _common.read_regular(path, MAX_FILE_BYTES)
    got = _envfile.parse(_common.decode_text(data), known)
    return got.values, [f"env file {path}, line {n}: {m}" for n, m in got.problems]


def variables_for(path: Path | None, options: Options) -> tuple[dict[str, str], list[str]]:
    """The interpolation variables of a compose file, and the problems reading them."""
    problems: list[str] = []
    files = [Path(f) for f in options.env_files]
    if not files and path is not None and (path.parent / ".env").is_file():
        files = [path.parent / ".env"]
    out: dict[str, str] = {}
    for f in files:
        try:
            values, bad = read_env_file(f, out)
            out.update(values)
            problems.extend(bad)
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"env file {f}: cannot read: {getattr(exc, 'strerror', None) or exc}")
    return out, problems


class _Interpolated:
    """A document with every string interpolated, and the variables left unset per path."""

    def __init__(self, variables: Mapping[str, str]) -> None:
        self.variables = variables
        # the variables each field needed and did not get (unset, or too long once
        # expanded: either way the value is unknown)
        self.unresolved: dict[str, tuple[str, ...]] = {}
        # the fields whose references were too long once expanded (said in a warning)
        self.too_long: dict[str, tuple[str, ...]] = {}
        # (one growth budget for the whole file: references past it are left empty)
        self.budget = _interpolate.Budget()

    def walk(self, node: Any, where: str = "") -> Any:
        if isinstance(node, str):
            got = _interpolate.expand(node, self.variables, dollar_escape=True, budget=self.budget)
            if got.unresolved or got.too_long:
                self.unresolved[where] = got.unresolved + got.too_long
            if got.too_long and len(self.too_long) < _envfile.MAX_PROBLEMS:
                self.too_long[where] = got.too_long
            return got.text
        if isinstance(node, dict):
            return {k: self.walk(v, _common.join(where, str(k))) for k, v in node.items()}
        if isinstance(node, list):
            return [self.walk(v, f"{where}[{i}]") for i, v in enumerate(node)]
        return node


def _kv(value: Any, field: str, variables: Mapping[str, str]) -> dict[str, str]:
    """Compose lists (``K=V``; a bare ``K`` takes its value from the variables, or is left
    out) or mappings."""
    if isinstance(value, list):
        out: dict[str, str] = {}
        for i, item in enumerate(value):
            s = _common.string(item, f"{field}[{i}]")
            if s is None:
                continue
            k, eq, v = s.partition("=")
            k = k.strip()
            if eq:
                out[k] = v
            elif k in variables:
                out[k] = variables[k]
        return out
    return _common.str_map(value, field)


def _merge(
    base: Mapping[str, Any], over: Mapping[str, Any], variables: Mapping[str, str]
) -> dict[str, Any]:
    """A service extended by another: mappings merged (environment and labels in either
    form), other values replaced."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if key in ("environment", "labels", "args") and old is not None and value is not None:
            out[key] = {**_kv(old, key, variables), **_kv(value, key, variables)}
        elif isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = _merge(old, value, variables)
        else:
            out[key] = value
    return out


class _Reader:
    """One compose file: its variables, its services with ``extends`` resolved."""

    def __init__(
        self, doc: Mapping[str, Any], source: str, path: Path | None, options: Options
    ) -> None:
        self.source, self.path = source, path
        self.variables, problems = variables_for(path, options)
        self.warnings = [model.InputError(source, p) for p in problems]
        interp = _Interpolated(self.variables)
        self.doc: Mapping[str, Any] = interp.walk(dict(doc))
        self.unresolved = interp.unresolved
        for field, names in interp.too_long.items():
            self.warn(field, f"{', '.join(names)}: too long once expanded; left unknown")

    def warn(self, field: str, message: str) -> None:
        self.warnings.append(model.InputError(self.source, message, field))

    def service(self, name: str, svc: Mapping[str, Any], field: str) -> Mapping[str, Any]:
        """The service with its ``extends`` chain merged in (raises DocumentError)."""
        return self._extended(svc, field, self.doc, self.path, depth=0)

    def _extended(
        self,
        svc: Mapping[str, Any],
        field: str,
        doc: Mapping[str, Any],
        path: Path | None,
        depth: int,
    ) -> Mapping[str, Any]:
        ext = svc.get("extends")
        if ext is None:
            return svc
        if depth >= MAX_EXTENDS:
            raise _common.DocumentError(f"{field}.extends", "extends chain too long (a cycle?)")
        base_name: str | None
        base_file: str | None
        if isinstance(ext, str):
            base_name, base_file = ext, None
        else:
            e = _common.mapping(ext, f"{field}.extends")
            base_name = _common.string(e.get("service"), f"{field}.extends.service", required=True)
            base_file = _common.string(e.get("file"), f"{field}.extends.file")
        assert base_name is not None
        base_doc, base_path = doc, path
        if base_file:
            if path is None:
                raise _common.DocumentError(f"{field}.extends.file", "cannot be read here")
            base_path = path.parent / base_file
            base_doc = self._other_file(base_path, f"{field}.extends.file")
        services = _common.mapping(base_doc.get("services"), "services")
        base = services.get(base_name)
        if not isinstance(base, Mapping):
            where = f" in {base_file}" if base_file else ""
            raise _common.DocumentError(
                f"{field}.extends.service", f"no service {base_name!r}{where}"
            )
        resolved = self._extended(base, field, base_doc, base_path, depth + 1)
        if base_file and base_path is not None:
            # the base's build context is relative to its own file
            resolved = _rebase_build(resolved, base_path.parent, path.parent if path else None)
        own = {k: v for k, v in svc.items() if k != "extends"}
        return _merge(resolved, own, self.variables)

    def _other_file(self, p: Path, field: str) -> Mapping[str, Any]:
        from ddcompat.shared.parsers import _yaml

        try:
            text = _common.decode_text(_common.read_regular(p, MAX_FILE_BYTES))
            docs = _yaml.load_all(text)
        except OSError as exc:
            raise _common.DocumentError(field, f"cannot read {p}: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, _yaml.YAMLError) as exc:
            raise _common.DocumentError(field, f"{p} is not valid YAML: {exc}") from None
        doc = docs[0] if docs and isinstance(docs[0], Mapping) else {}
        walked: dict[str, Any] = _Interpolated(self.variables).walk(dict(doc))
        return walked


def _rebase_build(
    svc: Mapping[str, Any], base_dir: Path, own_dir: Path | None
) -> Mapping[str, Any]:
    build = svc.get("build")
    if build is None or own_dir is None:
        return svc
    context = (
        build
        if isinstance(build, str)
        else (build.get("context") if isinstance(build, Mapping) else None)
    )
    if not isinstance(context, str) or _remote(context):
        return svc
    new_context = str((base_dir / context).resolve())
    if isinstance(build, str):
        return {**svc, "build": new_context}
    return {**svc, "build": {**build, "context": new_context}}


def _remote(context: str) -> bool:
    """A build context Docker fetches (git URL, https tarball)."""
    c = context.strip().lower()
    return "://" in c or c.startswith(("git@", "github.com/")) or c.endswith(".git")


def parse(
    doc: Mapping[str, Any],
    source: str,
    path: Path | None,
    out: model.ParseResult,
    options: Options = DEFAULT_OPTIONS,
) -> None:
    reader = _Reader(doc, source, path, options)
    project = reader.doc.get("name") if isinstance(reader.doc.get("name"), str) else None
    services = _common.mapping(reader.doc.get("services"), "services", required=True)
    for sname, raw in services.items():
        field = f"services.{sname}"
        try:
            svc = reader.service(str(sname), _common.mapping(raw, field), field)
            _service(str(sname), svc, field, project, reader, out)
        except _common.DocumentError as exc:
            out.errors.append(model.InputError(source, str(exc), exc.field))
    out.warnings.extend(reader.warnings)


def _service(
    sname: str,
    svc: Mapping[str, Any],
    field: str,
    project: str | None,
    reader: _Reader,
    out: model.ParseResult,
) -> None:
    variables, path = reader.variables, reader.path
    env = _env_files(svc.get("env_file"), f"{field}.env_file", reader)
    env.update(_kv(svc.get("environment"), f"{field}.environment", variables))
    labels = _kv(svc.get("labels"), f"{field}.labels", variables)
    image = _common.string(svc.get("image"), f"{field}.image") or None
    if image is not None and f"{field}.image" in reader.unresolved:
        # `image: "$SNUBA_IMAGE"` with the variable unset: no image is known
        image = None
    platform_source: model.FactSource = "compose_platform"
    platform = signals.platform_from_string(
        _common.string(svc.get("platform"), f"{field}.platform") or None
    )
    cname = _common.string(svc.get("container_name"), f"{field}.container_name") or sname
    container = signals.ContainerInput(name=cname, image=image, env=env)
    build = svc.get("build")
    if build is not None and path is not None:
        built = _build(build, f"{field}.build", cname, env, reader, out)
        if built is not None:
            container, img = built
            labels = {**img.labels, **labels}
            if platform is None and img.platform:
                platform = signals.platform_from_string(img.platform)
                platform_source = "dockerfile"
            if image and not container.python_hint:
                container.image = image
            if image:
                out.build_links.append(dockerfile.build_link(image, reader.source, container, img))
    _common.emit(
        _common.Group(
            source=reader.source,
            deployment_type="docker",
            kind="ComposeService",
            namespace=project,
            name=sname,
            annotations=signals.Annotations(labels, f"{field}.labels"),
            containers=[container],
            platform=platform or model.Platform("linux", ()),
            platform_source=platform_source if platform else "default",
            labels=signals.label_pairs(labels),
        ),
        out,
    )


def _env_files(value: Any, field: str, reader: _Reader) -> dict[str, str]:
    """The variables of a service's ``env_file`` entries (a path, a list of paths or of
    ``{path, required}``); an unreadable one leaves its variables unknown (a warning)."""
    if value is None or reader.path is None:
        return {}
    entries: Sequence[Any] = value if isinstance(value, list) else [value]
    out: dict[str, str] = {}
    for i, entry in enumerate(entries):
        at = f"{field}[{i}]" if isinstance(value, list) else field
        required = True
        if isinstance(entry, Mapping):
            required = entry.get("required", True) is not False
            entry = entry.get("path")
        name = _common.string(entry, at)
        if not name:
            continue
        p = reader.path.parent / name
        try:
            values, bad = read_env_file(p)
            out.update(values)
            for message in bad:
                reader.warn(at, message)
        except FileNotFoundError:
            if required:
                reader.warn(at, f"env file not found: {p} (its variables are unknown)")
        except (OSError, UnicodeDecodeError) as exc:
            reader.warn(at, f"env file {p}: cannot read: {getattr(exc, 'strerror', None) or exc}")
    return out


def _build(
    build: Any,
    field: str,
    cname: str,
    env: dict[str, str],
    reader: _Reader,
    out: model.ParseResult,
) -> tuple[signals.ContainerInput, dockerfile.Image] | None:
    """The container a ``build`` section makes, read through its Dockerfile; None (with
    a warning naming the field) when the files do not say."""
    assert reader.path is not None
    inline: str | None = None
    if isinstance(build, str):
        context, dfile, args = build, "Dockerfile", {}
        context_field = field
    else:
        b = _common.mapping(build, field)
        context = _common.string(b.get("context"), f"{field}.context") or "."
        context_field = f"{field}.context"
        dfile = _common.string(b.get("dockerfile"), f"{field}.dockerfile") or "Dockerfile"
        inline = _common.string(b.get("dockerfile_inline"), f"{field}.dockerfile_inline")
        args = _kv(b.get("args"), f"{field}.args", reader.variables)
    unset = reader.unresolved.get(context_field)
    if unset or not context.strip():
        names = ", ".join(unset or ()) or "(empty)"
        reader.warn(context_field, f"build context from unset variable {names}: build unknown")
        return None
    if _remote(context):
        reader.warn(context_field, f"build context {context} is remote: build unknown")
        return None
    base = Path(context) if Path(context).is_absolute() else reader.path.parent / context
    dpath = base / dfile
    if inline is None and not dpath.is_file():
        reader.warn(
            field, f"Dockerfile not found: {dpath} (the image's facts of this service are unknown)"
        )
        return None
    container, img, _ = dockerfile.container_input(
        dpath, cname, env=env, build_args=args, text=inline, context=base
    )
    for where, message in img.notes:
        reader.warn(
            field, f"{dpath if inline is None else 'dockerfile_inline'}: {where}: {message}"
        )
    if inline is None:
        out.built_dockerfiles.add(str(dpath.resolve()))
    return container, img
