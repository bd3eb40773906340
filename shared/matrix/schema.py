"""The matrix files' schema (pydantic): validation only.

Imported when a matrix file's content has not been validated before (see
``matrix.load``); what it validates becomes the plain rows of ``ddcompat.shared.matrix``.
"""

from __future__ import annotations

import datetime
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import packaging.version
import pydantic
import yaml

from ddcompat.shared import codes, model, versions
from ddcompat.shared import matrix as runtime

MatrixError = runtime.MatrixError

NonEmpty = Annotated[str, pydantic.StringConstraints(min_length=1, strip_whitespace=True)]


# a reason code of ddcompat.shared.codes
CodeName = Annotated[str, pydantic.AfterValidator(codes.check)]


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


def _check_pythons(value: tuple[str, ...]) -> tuple[str, ...]:
    try:
        versions.expand_python_versions(list(value))
    except versions.VersionSyntaxError as exc:
        raise ValueError(str(exc)) from None
    return value


# Python versions and ranges ("3.7", "3.9-3.14")
Pythons = Annotated[tuple[NonEmpty, ...], pydantic.AfterValidator(_check_pythons)]
VersionStr = Annotated[str, pydantic.AfterValidator(_check_version)]


class FeatureRow(_Row):
    id: model.FeatureId
    title: NonEmpty
    min_ddtrace: VersionStr | None = None
    # where the vendor's sources disagree on the minimum: said with every finding about it
    min_note: NonEmpty | None = None
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


def _iso_date(value: Any) -> Any:
    # YAML reads an unquoted 2026-05-31 as a date: keep it as its ISO text
    return value.isoformat() if isinstance(value, datetime.date) else value


def _check_date(value: str) -> str:
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {value!r}") from None
    return value


DateStr = Annotated[str, pydantic.BeforeValidator(_iso_date), pydantic.AfterValidator(_check_date)]


class ReleaseBranchRow(_Row):
    ddtrace: RangeStr
    level: Literal["maintenance", "general_availability", "end_of_life"]
    since: DateStr | None = None  # from this day (inclusive)
    until: DateStr | None = None  # to this day (exclusive)
    # the vendor's estimate (its dates may move); `estimate` says it in the vendor's words
    forecast: bool = False
    estimate: NonEmpty | None = None

    @pydantic.model_validator(mode="after")
    def _estimate_of_forecast(self) -> ReleaseBranchRow:
        if self.estimate is not None and not self.forecast:
            raise ValueError("estimate is for a forecast row (forecast: true)")
        return self


class RuntimeRow(_Row):
    os: Literal["linux", "darwin", "windows"]
    arch: tuple[NonEmpty, ...] = pydantic.Field(min_length=1)
    cpu: str | None = None
    runtime: Literal["cpython"] = "cpython"
    python: Pythons = pydantic.Field(min_length=1)
    ddtrace: RangeStr


class FrameworkRow(_Row):
    framework: Annotated[str, pydantic.StringConstraints(to_lower=True, min_length=1)]
    min_version: VersionStr
    features: dict[model.FeatureId, bool]
    caveats: tuple[CodeName, ...] = ()


class AuthFrameworkRow(_Row):
    framework: Annotated[str, pydantic.StringConstraints(to_lower=True, min_length=1)]
    versions: tuple[RangeStr, ...] = pydantic.Field(min_length=1)
    features: tuple[model.FeatureId, ...] = ("user_activity_tracking",)


class CaveatRow(_Row):
    code: CodeName
    framework: Annotated[str, pydantic.StringConstraints(to_lower=True)] | None = None
    features: tuple[model.FeatureId, ...]
    message: NonEmpty


# an environment variable's name
EnvName = Annotated[str, pydantic.StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")]


class SettingRow(_Row):
    variable: EnvName
    ddtrace: RangeStr | None = None
    lambda_layer: RangeStr | None = None
    instead: NonEmpty | None = None

    @pydantic.model_validator(mode="after")
    def _where_read(self) -> SettingRow:
        if (self.ddtrace is None) == (self.lambda_layer is None):
            raise ValueError("give exactly one of ddtrace or lambda_layer")
        return self


class DefaultOnRow(_Row):
    feature: model.FeatureId
    ddtrace: RangeStr
    when: model.FeatureId
    off_by: tuple[
        Annotated[str, pydantic.StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")], ...
    ] = ()


class RestrictionRow(_Row):
    feature: model.FeatureId
    ddtrace: RangeStr
    python: tuple[NonEmpty, ...] = ()
    os: tuple[Literal["linux", "darwin", "windows"], ...] = ()

    @pydantic.model_validator(mode="after")
    def _something(self) -> RestrictionRow:
        if not self.python and not self.os:
            raise ValueError("give python, os or both")
        try:
            versions.expand_python_versions(list(self.python))
        except versions.VersionSyntaxError as exc:
            raise ValueError(str(exc)) from None
        return self


class NoteRow(_Row):
    text: NonEmpty


class InjectionRow(_Row):
    """The Pythons Datadog library injection (dd-lib-python-init, whose tag is the ddtrace
    version) installs into; on any other it stops and the application runs without."""

    ddtrace: RangeStr
    python: Pythons = pydantic.Field(min_length=1)


class LambdaLayerRow(_Row):
    """What Datadog Python Lambda layers (a range of layer versions) do to a feature:
    ``off``: the layer turns it off whatever the tracer could do; ``early``: it runs
    (when turned on by ``variable``) but Datadog's own tooling supports it only from
    ``supported_from``."""

    layers: RangeStr
    feature: model.FeatureId
    effect: Literal["off", "early"]
    variable: EnvName | None = None
    supported_from: int | None = None
    detail: NonEmpty


class LambdaRuntimeRow(_Row):
    """An AWS Lambda runtime's deprecation: no security patches from ``deprecated``;
    creating, then updating, functions blocked from the later days."""

    runtime: Annotated[str, pydantic.StringConstraints(pattern=r"^python\d+\.\d+$")]
    deprecated: DateStr
    create_blocked: DateStr | None = None
    update_blocked: DateStr | None = None


class LatestRow(_Row):
    """The newest ddtrace release the edition knows: what ``latest`` means."""

    ddtrace: VersionStr


class KnownRow(_Row):
    """What the facts know of the vendor's releases, and when they were read (written by
    ``make facts``): the newest release of each ddtrace line, the newest Lambda layer."""

    read: DateStr
    ddtrace_latest: VersionStr
    ddtrace_lines: dict[Annotated[str, pydantic.StringConstraints(pattern=r"^\d+$")], VersionStr]
    lambda_layer_latest: int | None = None


class Meta(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: NonEmpty
    version: NonEmpty
    sources: dict[str, str] = {}
    latest: LatestRow | None = None


class MatrixFile(pydantic.BaseModel):
    """The shape of one matrix file; every section optional."""

    model_config = pydantic.ConfigDict(extra="forbid")
    meta: Meta | None = None
    known: KnownRow | None = None
    features: list[FeatureRow] = []
    deployments: list[DeploymentRow] = []
    release_branches: list[ReleaseBranchRow] = []
    runtimes: list[RuntimeRow] = []
    frameworks: list[FrameworkRow] = []
    auth_frameworks: list[AuthFrameworkRow] = []
    caveats: list[CaveatRow] = []
    settings: list[SettingRow] = []
    defaults: list[DefaultOnRow] = []
    restrictions: list[RestrictionRow] = []
    notes: list[NoteRow] = []
    injection: list[InjectionRow] = []
    lambda_layers: list[LambdaLayerRow] = []
    lambda_runtimes: list[LambdaRuntimeRow] = []


# what names a row in an error, first found first
_ROW_KEYS = (
    "id",
    "runtime",
    "layers",
    "framework",
    "os",
    "deployment_type",
    "code",
    "variable",
    "feature",
    "ddtrace",
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
                for key in _ROW_KEYS:
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


# section -> its row model (``list[FeatureRow]`` -> FeatureRow), for each runtime section
ROW_MODELS: dict[str, type[_Row]] = {
    section: typing.get_args(MatrixFile.model_fields[section].annotation)[0]
    for section in runtime.SECTIONS
}


def to_plain(mf: MatrixFile) -> runtime.FileData:
    """A validated file as plain data (what the runtime rows are made from, and cached)."""
    meta = mf.meta.model_dump() if mf.meta is not None else None
    rows = {section: [row.model_dump() for row in getattr(mf, section)] for section in ROW_MODELS}
    if mf.known is not None:
        rows["known"] = [mf.known.model_dump()]
    return meta, rows
