"""The compatibility matrix: YAML rows shipped as package data, validated with pydantic.

Each YAML file holds one or more sections (``features``, ``deployments``,
``release_branches``, ``runtimes``, ``frameworks``, ``auth_frameworks``, ``caveats``,
``notes``) and optionally ``meta``. A user matrix (``--matrix FILE``) has the same
shape; its rows are added to the built-in ones, and its ``meta`` (if any) names the
result.

Files are validated by the pydantic models of :mod:`ddcompat.shared.matrix.schema`
into the plain rows below. What validated once is remembered by content (a digest of
the files, of the schema and of these rows) in a cache directory, so that a start-up
with the same files needs neither pydantic nor YAML; any change is validated again, and
a file that fails is never remembered. ``DDCOMPAT_CACHE_DIR`` sets the directory (empty:
no cache; default ``$XDG_CACHE_HOME/ddcompat`` or ``~/.cache/ddcompat``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import marshal
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec

from ddcompat.shared import cache as cache_mod
from ddcompat.shared import model, versions


class MatrixError(ValueError):
    """A matrix file that cannot be used; the message names file, row and field."""


# Plain rows: the schema module's models validate into these (same field names).


class FeatureRow(msgspec.Struct, frozen=True):
    source: str
    id: model.FeatureId
    title: str
    min_ddtrace: str | None = None
    min_note: str | None = None
    preview: bool = False
    requires_remote_config: bool = False


class DeploymentRow(msgspec.Struct, frozen=True):
    source: str
    deployment_type: model.DeploymentType
    feature: model.FeatureId
    supported: bool


class ReleaseBranchRow(msgspec.Struct, frozen=True):
    source: str
    ddtrace: str
    level: Literal["maintenance", "general_availability", "end_of_life"]
    # ISO dates: the row applies from ``since`` (inclusive) to ``until`` (exclusive)
    since: str | None = None
    until: str | None = None
    forecast: bool = False  # the vendor's estimate
    estimate: str | None = None

    def applies_on(self, day: str) -> bool:
        """Whether this row is in force on ``day`` (ISO date; strings compare as dates)."""
        return (self.since is None or self.since <= day) and (
            self.until is None or day < self.until
        )


# kw_only: fields in the schema's order (as `matrix show --format json` prints them)
class RuntimeRow(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    os: Literal["linux", "darwin", "windows"]
    arch: tuple[str, ...]
    cpu: str | None = None
    runtime: Literal["cpython"] = "cpython"
    python: tuple[str, ...]
    ddtrace: str


class FrameworkRow(msgspec.Struct, frozen=True):
    source: str
    framework: str
    min_version: str
    features: dict[model.FeatureId, bool]
    caveats: tuple[model.Code, ...] = ()


class AuthFrameworkRow(msgspec.Struct, frozen=True):
    source: str
    framework: str
    versions: tuple[str, ...]
    features: tuple[model.FeatureId, ...] = ("user_activity_tracking",)


class CaveatRow(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    code: model.Code
    framework: str | None = None
    features: tuple[model.FeatureId, ...]
    message: str


class SettingRow(msgspec.Struct, frozen=True, kw_only=True):
    """The ddtrace versions that read an environment variable, or on AWS Lambda the
    Datadog layer releases that do (a variable set where it is not read is ignored:
    SETTING_IGNORED), and what to set instead."""

    source: str
    variable: str
    ddtrace: str | None = None
    lambda_layer: str | None = None  # a range of layer versions (">=112")
    instead: str | None = None


class DefaultOnRow(msgspec.Struct, frozen=True, kw_only=True):
    """A capability the tracer turns on by itself (for ``ddtrace`` versions, while
    ``when`` is in use) unless one of ``off_by`` is set to a false value."""

    source: str
    feature: model.FeatureId
    ddtrace: str
    when: model.FeatureId
    off_by: tuple[str, ...] = ()


class RestrictionRow(msgspec.Struct, frozen=True, kw_only=True):
    """Where a feature does not run although the tracer does: on these Pythons or OSes,
    for ``ddtrace`` versions."""

    source: str
    feature: model.FeatureId
    ddtrace: str
    python: tuple[str, ...] = ()
    os: tuple[str, ...] = ()


class NoteRow(msgspec.Struct, frozen=True):
    source: str
    text: str


class LatestRow(msgspec.Struct, frozen=True):
    source: str
    ddtrace: str


class InjectionRow(msgspec.Struct, frozen=True, kw_only=True):
    """The Pythons library injection of ``ddtrace`` installs into."""

    source: str
    ddtrace: str
    python: tuple[str, ...]


class LambdaLayerRow(msgspec.Struct, frozen=True, kw_only=True):
    """What Datadog Python Lambda layers ``layers`` do to ``feature`` (``off``: turned
    off; ``early``: runs, but Datadog's tooling supports it from ``supported_from``)."""

    source: str
    layers: str
    feature: model.FeatureId
    effect: Literal["off", "early"]
    variable: str | None = None
    supported_from: int | None = None
    detail: str


class LambdaRuntimeRow(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    runtime: str
    deprecated: str
    create_blocked: str | None = None
    update_blocked: str | None = None


class Known(msgspec.Struct, frozen=True, kw_only=True):
    """What the facts know of the vendor's releases and when they were read."""

    source: str
    read: str
    ddtrace_latest: str
    ddtrace_lines: dict[str, str]
    lambda_layer_latest: int | None = None


class Meta(msgspec.Struct, frozen=True):
    name: str
    version: str
    sources: dict[str, str] = msgspec.field(default_factory=dict)
    latest: LatestRow | None = None


ROW_TYPES: dict[str, type[Any]] = {
    "features": FeatureRow,
    "deployments": DeploymentRow,
    "release_branches": ReleaseBranchRow,
    "runtimes": RuntimeRow,
    "frameworks": FrameworkRow,
    "auth_frameworks": AuthFrameworkRow,
    "caveats": CaveatRow,
    "settings": SettingRow,
    "defaults": DefaultOnRow,
    "restrictions": RestrictionRow,
    "notes": NoteRow,
    "injection": InjectionRow,
    "lambda_layers": LambdaLayerRow,
    "lambda_runtimes": LambdaRuntimeRow,
}
SECTIONS = tuple(ROW_TYPES)
# a setting row with its ddtrace and its Lambda layer intervals
Setting = tuple[SettingRow, versions.Interval | None, versions.Interval | None]
# a restriction with its ddtrace interval and its Pythons as (major, minor)
Restriction = tuple[RestrictionRow, versions.Interval, frozenset[tuple[int, int]]]
# One validated file as plain data: meta, and the rows of each section as field dicts.
FileData = tuple[dict[str, Any] | None, dict[str, list[dict[str, Any]]]]


# dict=True: room for the lookup tables below (cached properties, never compared)
class Matrix(msgspec.Struct, frozen=True, dict=True):
    """The matrix in force, with lookup tables derived once at load."""

    name: str
    version: str
    features: tuple[FeatureRow, ...]
    deployments: tuple[DeploymentRow, ...]
    release_branches: tuple[ReleaseBranchRow, ...]
    runtimes: tuple[RuntimeRow, ...]
    frameworks: tuple[FrameworkRow, ...]
    auth_frameworks: tuple[AuthFrameworkRow, ...]
    caveats: tuple[CaveatRow, ...]
    notes: tuple[NoteRow, ...]
    settings: tuple[SettingRow, ...] = ()
    defaults: tuple[DefaultOnRow, ...] = ()
    restrictions: tuple[RestrictionRow, ...] = ()
    files: tuple[str, ...] = ()
    edition: str | None = None  # the built-in edition under the user files, if any
    # the newest ddtrace release the matrix knows: what `latest` (library injection) means
    latest: LatestRow | None = None
    injection: tuple[InjectionRow, ...] = ()
    lambda_layers: tuple[LambdaLayerRow, ...] = ()
    lambda_runtimes: tuple[LambdaRuntimeRow, ...] = ()
    known: Known | None = None

    @functools.cached_property
    def injection_intervals(
        self,
    ) -> tuple[tuple[InjectionRow, versions.Interval, frozenset[tuple[int, int]]], ...]:
        return _with_intervals(self.injection)

    @functools.cached_property
    def layer_rows(self) -> tuple[tuple[LambdaLayerRow, versions.Interval], ...]:
        return tuple((r, versions.parse_range(r.layers)) for r in self.lambda_layers)

    def layer_rows_for(self, feature: str, layer: int) -> list[LambdaLayerRow]:
        """The ``lambda_layers`` rows of ``feature`` that Datadog Lambda layer ``layer``
        falls in."""
        at = versions.parse_range(str(layer))
        return [
            r
            for r, iv in self.layer_rows
            if r.feature == feature and versions.coverage(at, iv) is not versions.Coverage.NONE
        ]

    @functools.cached_property
    def lambda_runtime(self) -> dict[str, LambdaRuntimeRow]:
        return {r.runtime: r for r in self.lambda_runtimes}

    @functools.cached_property
    def feature_by_id(self) -> dict[str, FeatureRow]:
        return {f.id: f for f in self.features}

    @functools.cached_property
    def deployment_support(self) -> dict[tuple[str, str], DeploymentRow]:
        return {(d.deployment_type, d.feature): d for d in self.deployments}

    @functools.cached_property
    def framework_checked_features(self) -> frozenset[str]:
        return frozenset(f for row in self.frameworks for f in row.features)

    @functools.cached_property
    def auth_checked_features(self) -> frozenset[str]:
        return frozenset(f for row in self.auth_frameworks for f in row.features)

    @functools.cached_property
    def settings_by_variable(self) -> dict[str, tuple[Setting, ...]]:
        out: dict[str, list[Setting]] = {}
        for r in self.settings:
            out.setdefault(r.variable, []).append(
                (
                    r,
                    versions.parse_range(r.ddtrace) if r.ddtrace else None,
                    versions.parse_range(r.lambda_layer) if r.lambda_layer else None,
                )
            )
        return {k: tuple(v) for k, v in out.items()}

    @functools.cached_property
    def default_on(self) -> tuple[tuple[DefaultOnRow, versions.Interval], ...]:
        return tuple((r, versions.parse_range(r.ddtrace)) for r in self.defaults)

    @functools.cached_property
    def restrictions_by_feature(
        self,
    ) -> dict[
        str, tuple[tuple[RestrictionRow, versions.Interval, frozenset[tuple[int, int]]], ...]
    ]:
        out: dict[str, list[tuple[RestrictionRow, versions.Interval, frozenset[tuple[int, int]]]]]
        out = {}
        for r in self.restrictions:
            out.setdefault(r.feature, []).append(
                (
                    r,
                    versions.parse_range(r.ddtrace),
                    versions.expand_python_versions(list(r.python)),
                )
            )
        return {k: tuple(v) for k, v in out.items()}

    @functools.cached_property
    def runtime_intervals(
        self,
    ) -> tuple[tuple[RuntimeRow, versions.Interval, frozenset[tuple[int, int]]], ...]:
        return _with_intervals(self.runtimes)


_R = TypeVar("_R", "RuntimeRow", "InjectionRow")


def _with_intervals(
    rows: tuple[_R, ...],
) -> tuple[tuple[_R, versions.Interval, frozenset[tuple[int, int]]], ...]:
    """Rows with their ddtrace interval and their Pythons as (major, minor)."""
    return tuple(
        (r, versions.parse_range(r.ddtrace), versions.expand_python_versions(list(r.python)))
        for r in rows
    )


def parse_matrix_file(path: Path | str, text: str) -> FileData:
    """One matrix file validated (pydantic); raises MatrixError naming file, row, field."""
    from ddcompat.shared.matrix import schema

    return schema.to_plain(schema.parse_matrix_file(path, text))


# Editions: one directory of YAML files each, beside this module. An edition is read
# whole and alone: files of another edition never merge into it.
EDITIONS: tuple[str, ...] = ("seed", "current")
DEFAULT_EDITION = "current"


def _builtin_files(edition: str) -> list[tuple[str, str]]:
    if edition not in EDITIONS:
        raise MatrixError(f"unknown matrix edition {edition!r} (known: {', '.join(EDITIONS)})")
    # the package's own directory: ddcompat is installed as files (importlib.resources
    # would cost every start more than reading the directory)
    root = Path(__file__).parent / edition
    out = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            out.append(
                (
                    f"ddcompat.shared.matrix/{edition}/{entry.name}",
                    entry.read_text(encoding="utf-8"),
                )
            )
    return out


def build(files: Iterable[tuple[str, FileData]], edition: str | None = None) -> Matrix:
    sections: dict[str, list[Any]] = {name: [] for name in SECTIONS}
    meta: Meta | None = None
    known: Known | None = None
    names: list[str] = []
    for name, (meta_data, rows) in files:
        names.append(name)
        if meta_data is not None:
            latest = meta_data.get("latest")
            meta = Meta(**{**meta_data, "latest": LatestRow(**latest) if latest else None})
        for k in rows.get("known", ()):
            known = Known(**k)
        for section, cls in ROW_TYPES.items():
            sections[section].extend(cls(**row) for row in rows.get(section, ()))
    if meta is None:
        raise MatrixError("no matrix file gives meta.name and meta.version")
    seen: dict[str, str] = {}
    for row in sections["features"]:
        if row.id in seen:
            raise MatrixError(f"features: feature {row.id!r} is defined twice")
        seen[row.id] = row.source
    latest = meta.latest
    if latest is None and known is not None:  # `latest`: what the vendor's index says
        latest = LatestRow(source=known.source, ddtrace=known.ddtrace_latest)
    return Matrix(
        name=meta.name,
        version=meta.version,
        files=tuple(names),
        edition=edition,
        latest=latest,
        known=known,
        injection=tuple(sections["injection"]),
        lambda_layers=tuple(sections["lambda_layers"]),
        lambda_runtimes=tuple(sections["lambda_runtimes"]),
        features=tuple(sections["features"]),
        deployments=tuple(sections["deployments"]),
        release_branches=tuple(sections["release_branches"]),
        runtimes=tuple(sections["runtimes"]),
        frameworks=tuple(sections["frameworks"]),
        auth_frameworks=tuple(sections["auth_frameworks"]),
        caveats=tuple(sections["caveats"]),
        settings=tuple(sections["settings"]),
        defaults=tuple(sections["defaults"]),
        restrictions=tuple(sections["restrictions"]),
        notes=tuple(sections["notes"]),
    )


def load(
    extra: Iterable[Path] = (), *, builtin: bool = True, edition: str = DEFAULT_EDITION
) -> Matrix:
    """The built-in matrix of ``edition`` plus user files. Raises :class:`MatrixError` on
    any problem."""
    texts: list[tuple[str, str]] = _builtin_files(edition) if builtin else []
    named = edition if builtin else None
    for path in extra:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise MatrixError(f"{path}: cannot read matrix file: {exc.strerror or exc}") from None
        texts.append((str(path), text))
    cache = _cache_file(texts)
    validated = _read_cache(cache) if cache is not None else None
    if validated is None:
        validated = [(name, parse_matrix_file(name, text)) for name, text in texts]
        matrix = build(validated, named)  # (its own checks pass before anything is remembered)
        if cache is not None:
            _write_cache(cache, validated)
        return matrix
    try:
        return build(validated, named)
    except (TypeError, ValueError):  # a cache from something else: validate instead
        return build([(name, parse_matrix_file(name, text)) for name, text in texts], named)


@functools.lru_cache(maxsize=len(EDITIONS))
def builtin(edition: str = DEFAULT_EDITION) -> Matrix:
    """The built-in matrix of ``edition`` (loaded once per process: it never changes)."""
    return load(edition=edition)


# --- the cache of validated files ---------------------------------------------------

_CACHE_FORMAT = b"ddcompat-matrix-cache-1"


def cache_dir() -> Path | None:
    configured = cache_mod.cache_dir_setting()
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "ddcompat")


def _cache_file(texts: list[tuple[str, str]]) -> Path | None:
    directory = cache_dir()
    if directory is None:
        return None
    digest = hashlib.sha256(_CACHE_FORMAT)
    here = Path(__file__).parent
    try:
        # the rules the content was validated by, and the rows it becomes
        for code in ("schema.py", "__init__.py"):
            digest.update((here / code).read_bytes())
    except OSError:
        return None
    for name, text in texts:
        digest.update(b"\0" + name.encode() + b"\0" + text.encode())
    return directory / f"matrix-{digest.hexdigest()[:40]}.marshal"


def _read_cache(path: Path) -> list[tuple[str, FileData]] | None:
    try:
        data = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(data, list):
        return None
    return data


def _write_cache(path: Path, validated: list[tuple[str, FileData]]) -> None:
    import tempfile  # a start that reads the cache never needs it

    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".matrix-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(marshal.dumps(validated))
        os.replace(tmp, path)  # readers see the whole file or none
    except (OSError, ValueError):
        # a read-only file system (containers): validate at each start instead
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
