"""The compatibility matrix: YAML rows shipped as package data, validated with pydantic.

Each YAML file holds one or more sections (``features``, ``deployments``,
``release_branches``, ``runtimes``, ``frameworks``, ``auth_frameworks``, ``caveats``,
``notes``) and optionally ``meta``. A user matrix (``--matrix FILE``) has the same
shape; its rows are added to the built-in ones, and its ``meta`` (if any) names the
result.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import packaging.version
import pydantic
import yaml

from ddcompat.shared import model, versions

NonEmpty = Annotated[str, pydantic.StringConstraints(min_length=1, strip_whitespace=True)]


class MatrixError(ValueError):
    """A matrix file that cannot be used; the message names file, row and field."""


class _Row(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    source: NonEmpty


def _check_range(value: str) -> str:
    try:
        versions.parse_range(value)
    except versions.VersionSyntaxError as exc:
        raise ValueError(str(exc)) from None
    return value


def _check_version(value: str) -> str:
    try:
        packaging.version.Version(value)
    except packaging.version.InvalidVersion:
        raise ValueError(f"not a version: {value!r}") from None
    return value


RangeStr = Annotated[str, pydantic.AfterValidator(_check_range)]
VersionStr = Annotated[str, pydantic.AfterValidator(_check_version)]


class FeatureRow(_Row):
    id: model.FeatureId
    title: NonEmpty
    min_ddtrace: VersionStr | None = None
    preview: bool = False
    requires_remote_config: bool = False

    @pydantic.model_validator(mode="after")
    def _min_or_preview(self) -> FeatureRow:
        if (self.min_ddtrace is None) == (not self.preview):
            raise ValueError("give exactly one of min_ddtrace or preview: true")
        return self


class DeploymentRow(_Row):
    deployment_type: model.DeploymentType
    feature: model.FeatureId
    supported: bool


class ReleaseBranchRow(_Row):
    ddtrace: RangeStr
    level: Literal["maintenance", "general_availability", "end_of_life"]


class RuntimeRow(_Row):
    os: Literal["linux", "darwin", "windows"]
    arch: tuple[NonEmpty, ...] = pydantic.Field(min_length=1)
    cpu: str | None = None
    runtime: Literal["cpython"] = "cpython"
    python: tuple[NonEmpty, ...] = pydantic.Field(min_length=1)
    ddtrace: RangeStr

    @pydantic.field_validator("python")
    @classmethod
    def _python_ranges(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            versions.expand_python_versions(list(value))
        except versions.VersionSyntaxError as exc:
            raise ValueError(str(exc)) from None
        return value


class FrameworkRow(_Row):
    framework: Annotated[str, pydantic.StringConstraints(to_lower=True, min_length=1)]
    min_version: VersionStr
    features: dict[model.FeatureId, bool]
    caveats: tuple[model.Code, ...] = ()


class AuthFrameworkRow(_Row):
    framework: Annotated[str, pydantic.StringConstraints(to_lower=True, min_length=1)]
    versions: tuple[RangeStr, ...] = pydantic.Field(min_length=1)
    features: tuple[model.FeatureId, ...] = ("user_activity_tracking",)


class CaveatRow(_Row):
    code: model.Code
    framework: Annotated[str, pydantic.StringConstraints(to_lower=True)] | None = None
    features: tuple[model.FeatureId, ...]
    message: NonEmpty


class NoteRow(_Row):
    text: NonEmpty


class Meta(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: NonEmpty
    version: NonEmpty
    sources: dict[str, str] = {}


class MatrixFile(pydantic.BaseModel):
    """The shape of one matrix file; every section optional."""

    model_config = pydantic.ConfigDict(extra="forbid")
    meta: Meta | None = None
    features: list[FeatureRow] = []
    deployments: list[DeploymentRow] = []
    release_branches: list[ReleaseBranchRow] = []
    runtimes: list[RuntimeRow] = []
    frameworks: list[FrameworkRow] = []
    auth_frameworks: list[AuthFrameworkRow] = []
    caveats: list[CaveatRow] = []
    notes: list[NoteRow] = []


SECTIONS = tuple(k for k in MatrixFile.model_fields if k != "meta")


@dataclasses.dataclass(frozen=True)
class Matrix:
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
    files: tuple[str, ...] = ()
    # Evaluation memo (facts -> findings); belongs to this matrix, never compared.
    memo: dict[Any, Any] = dataclasses.field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

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
    def runtime_intervals(
        self,
    ) -> tuple[tuple[RuntimeRow, versions.Interval, frozenset[tuple[int, int]]], ...]:
        return tuple(
            (r, versions.parse_range(r.ddtrace), versions.expand_python_versions(list(r.python)))
            for r in self.runtimes
        )


def _format_loc(data: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    """``("runtimes", 2, "python")`` -> ``runtimes[2] (os='linux').python``."""
    out = ""
    for n, part in enumerate(loc):
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        if n == 1 and isinstance(loc[0], str) and isinstance(part, int):
            # Name the row by a natural key so people find it in the file.
            rows = data.get(loc[0])
            row = rows[part] if isinstance(rows, list) and part < len(rows) else None
            if isinstance(row, dict):
                for key in ("id", "framework", "os", "deployment_type", "code", "ddtrace"):
                    if key in row:
                        out += f" ({key}={row[key]!r})"
                        break
    return out


def parse_matrix_file(path: Path | str, text: str) -> MatrixFile:
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise MatrixError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MatrixError(
            f"{path}: a matrix file is a mapping of sections, got {type(data).__name__}"
        )
    try:
        return MatrixFile.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = [
            f"{path}: {_format_loc(data, tuple(err['loc']))}: {err['msg']}" for err in exc.errors()
        ]
        raise MatrixError("\n".join(problems)) from None


def _builtin_files() -> list[tuple[str, str]]:
    root = importlib.resources.files(__name__)
    out = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            out.append((f"ddcompat.shared.matrix/{entry.name}", entry.read_text(encoding="utf-8")))
    return out


def build(files: Iterable[tuple[str, MatrixFile]]) -> Matrix:
    sections: dict[str, list[Any]] = {name: [] for name in SECTIONS}
    meta: Meta | None = None
    names: list[str] = []
    for name, mf in files:
        names.append(name)
        if mf.meta is not None:
            meta = mf.meta
        for section in SECTIONS:
            sections[section].extend(getattr(mf, section))
    if meta is None:
        raise MatrixError("no matrix file gives meta.name and meta.version")
    seen: dict[str, str] = {}
    for row in sections["features"]:
        if row.id in seen:
            raise MatrixError(f"features: feature {row.id!r} is defined twice")
        seen[row.id] = row.source
    return Matrix(
        name=meta.name,
        version=meta.version,
        files=tuple(names),
        features=tuple(sections["features"]),
        deployments=tuple(sections["deployments"]),
        release_branches=tuple(sections["release_branches"]),
        runtimes=tuple(sections["runtimes"]),
        frameworks=tuple(sections["frameworks"]),
        auth_frameworks=tuple(sections["auth_frameworks"]),
        caveats=tuple(sections["caveats"]),
        notes=tuple(sections["notes"]),
    )


def load(extra: Iterable[Path] = (), *, builtin: bool = True) -> Matrix:
    """The built-in matrix plus user files. Raises :class:`MatrixError` on any problem."""
    parsed: list[tuple[str, MatrixFile]] = []
    if builtin:
        parsed.extend((name, parse_matrix_file(name, text)) for name, text in _builtin_files())
    for path in extra:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise MatrixError(f"{path}: cannot read matrix file: {exc.strerror or exc}") from None
        parsed.append((str(path), parse_matrix_file(path, text)))
    return build(parsed)


@functools.lru_cache(maxsize=1)
def builtin() -> Matrix:
    return load()
