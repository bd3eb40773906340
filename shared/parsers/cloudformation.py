"""CloudFormation and SAM templates (YAML with ``!Ref``-style tags, or JSON):
``AWS::Lambda::Function``, ``AWS::Serverless::Function`` (with SAM ``Globals``) and
``AWS::ECS::TaskDefinition``. ``Ref`` to a template parameter resolves to its
``Default``; any other intrinsic leaves that value unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ddcompat.shared import model
from ddcompat.shared.parsers import _common, aws_lambda, ecs

LAMBDA_TYPES = ("AWS::Lambda::Function", "AWS::Serverless::Function")


def matches(doc: Mapping[str, Any]) -> bool:
    res = doc.get("Resources")
    return "AWSTemplateFormatVersion" in doc or (
        isinstance(res, Mapping)
        and any(isinstance(r, Mapping) and isinstance(r.get("Type"), str) for r in res.values())
    )


def _resolver(params: Mapping[str, Any]) -> Any:
    def resolve(value: Any) -> Any:
        if isinstance(value, Mapping):
            if set(value) == {"Ref"} and isinstance(value["Ref"], str):
                p = params.get(value["Ref"])
                if isinstance(p, Mapping) and isinstance(p.get("Default"), str | int | float):
                    return p["Default"]
                return None
            if len(value) == 1 and next(iter(value)) == "Fn::Sub":
                # Keep the template text: "${AWS::Region}" placeholders stay visible.
                sub = value["Fn::Sub"]
                text = sub[0] if isinstance(sub, list) and sub else sub
                return text if isinstance(text, str) else None
            if len(value) == 1 and next(iter(value)).startswith("Fn::"):
                return None
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    return resolve


def _merge_globals(glob: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict(glob)
    for k, v in props.items():
        if (
            k in ("Environment", "Tags")
            and isinstance(out.get(k), Mapping)
            and isinstance(v, Mapping)
        ):
            if k == "Environment":
                merged = dict(out[k].get("Variables") or {})
                merged.update(v.get("Variables") or {})
                out[k] = {"Variables": merged}
            else:
                out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out


def parse(doc: Mapping[str, Any], source: str, out: model.ParseResult) -> None:
    try:
        resources = _common.mapping(doc.get("Resources"), "Resources", required=True)
        params = _common.mapping(doc.get("Parameters"), "Parameters")
        glob = _common.mapping(
            _common.mapping(doc.get("Globals"), "Globals").get("Function"), "Globals.Function"
        )
    except _common.DocumentError as exc:
        out.errors.append(model.InputError(source, str(exc), exc.field))
        return
    resolve = _resolver(params)
    for logical_id, res in resources.items():
        field = f"Resources.{logical_id}."
        try:
            r = _common.mapping(res, field.rstrip("."))
            rtype = r.get("Type")
            if rtype not in LAMBDA_TYPES and rtype != "AWS::ECS::TaskDefinition":
                continue
            props = resolve(_common.mapping(r.get("Properties"), f"{field}Properties"))
            if rtype == "AWS::Serverless::Function":
                props = _merge_globals(resolve(glob), props)
            pf = f"{field}Properties."
            if rtype == "AWS::ECS::TaskDefinition":
                ecs.parse_task(props, source, out, field=pf, fallback_name=str(logical_id))
                continue
            fn_name = props.get("FunctionName")
            name = fn_name if isinstance(fn_name, str) and "${" not in fn_name else str(logical_id)
            raw_tags = props.get("Tags")
            if isinstance(raw_tags, list):
                tags = {
                    str(t["Key"]): str(t.get("Value", ""))
                    for t in raw_tags
                    if isinstance(t, Mapping) and isinstance(t.get("Key"), str)
                }
            else:
                tags = _common.str_map(
                    {
                        k: v
                        for k, v in _common.mapping(raw_tags, f"{pf}Tags").items()
                        if v is not None
                    },
                    f"{pf}Tags",
                )
            image = props.get("ImageUri") if isinstance(props.get("ImageUri"), str) else None
            code = props.get("Code")
            if (
                image is None
                and isinstance(code, Mapping)
                and isinstance(code.get("ImageUri"), str)
            ):
                image = code["ImageUri"]
            _common.emit(
                aws_lambda.function_group(
                    props, tags, source=source, name=name, field=pf, image=image
                ),
                out,
            )
        except _common.DocumentError as exc:
            out.errors.append(model.InputError(source, str(exc), exc.field))
