"""The policy file's schema (pydantic): validation only, imported when a policy is
given; what it validates becomes the plain classes of :mod:`ddcompat.shared.policy`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
import yaml

from ddcompat.shared import codes, model
from ddcompat.shared import policy as runtime

# a reason code of ddcompat.shared.codes
CodeName = Annotated[str, pydantic.AfterValidator(codes.check)]


class _Selector(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    namespaces: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    deployment_types: tuple[model.DeploymentType, ...] = ()
    match_labels: dict[str, str] = {}


class Requirement(_Selector):
    features: tuple[model.FeatureId, ...] = pydantic.Field(min_length=1)
    when_using: tuple[model.FeatureId, ...] = ()


class Exemption(_Selector):
    reason: Annotated[str, pydantic.StringConstraints(min_length=1)]
    features: tuple[model.FeatureId, ...] = ()


class AnnotationNamespaces(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    namespaces: tuple[str, ...] = pydantic.Field(min_length=1)


class Exemptions(pydantic.BaseModel):
    """``exemptions`` as a mapping: the rules, and who may exempt by annotation."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    rules: tuple[Exemption, ...] = ()
    annotations: Literal["allow", "deny"] | AnnotationNamespaces = "allow"


class Policy(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    severities: dict[CodeName, model.Severity | None] = {}
    require: tuple[Requirement, ...] = ()
    exemptions: Exemptions = Exemptions()

    @pydantic.field_validator("exemptions", mode="before")
    @classmethod
    def _list_form(cls, value: Any) -> Any:
        # the list form is the rules alone
        return {"rules": value} if isinstance(value, list | tuple) else value


def parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise runtime.PolicyError(f"{source}: not valid YAML: {exc}") from None


def validate(data: Any, source: str) -> runtime.Policy:
    try:
        p = Policy.model_validate(data or {})
    except pydantic.ValidationError as exc:
        lines = []
        list_form = isinstance(data, dict) and isinstance(data.get("exemptions"), list)
        for err in exc.errors():
            parts = tuple(err["loc"])
            if list_form and parts[:2] == ("exemptions", "rules"):
                parts = ("exemptions", *parts[2:])  # named as the file writes it
            loc = ".".join(str(part) for part in parts)
            lines.append(f"{source}: {loc}: {err['msg']}")
        raise runtime.PolicyError("\n".join(lines)) from None
    ex = p.exemptions
    ann = ex.annotations
    return runtime.Policy(
        severities=dict(p.severities),
        require=tuple(runtime.Requirement(**r.model_dump()) for r in p.require),
        exemptions=tuple(runtime.Exemption(**e.model_dump()) for e in ex.rules),
        annotation_exemptions=runtime.AnnotationExemptions(
            allow=ann == "allow",
            namespaces=ann.namespaces if isinstance(ann, AnnotationNamespaces) else (),
        ),
    )
