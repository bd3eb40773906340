"""CloudFormation and SAM templates (YAML with ``!Ref``-style tags, or JSON):
``AWS::Lambda::Function``, ``AWS::Serverless::Function`` (with SAM ``Globals``) and
``AWS::ECS::TaskDefinition``. Intrinsics are read as far as the template says
(``_intrinsics``: a parameter's ``Default``, ``Fn::Join``/``Fn::Sub`` over known values,
pseudo parameters as placeholders); anything else is a value not known, never an error.
Datadog's CloudFormation macro (``Transform: DatadogServerless``) is applied as it would be
at deploy time: with ``pythonLayerVersion`` (and ``addLayers`` not false) each Python
function gets the Datadog-Python layer of its runtime and architecture at that version
(DataDog/datadog-cloudformation-macro serverless/src/lambda/layer.ts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ddcompat.shared import lambda_layers, model
from ddcompat.shared.parsers import _common, _intrinsics, aws_lambda, ecs

LAMBDA_TYPES = ("AWS::Lambda::Function", "AWS::Serverless::Function")


def matches(doc: Mapping[str, Any]) -> bool:
    res = doc.get("Resources")
    return "AWSTemplateFormatVersion" in doc or (
        isinstance(res, Mapping)
        and any(isinstance(r, Mapping) and isinstance(r.get("Type"), str) for r in res.values())
    )


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
    resolve = _intrinsics.cfn_resolver(params)
    macro_layer = _macro_layer(doc.get("Transform"), resolve)
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
            # a name the template computes (per stage, per parameter) is no stable id: the
            # logical id is
            raw = r.get("Properties")
            fn_name = raw.get("FunctionName") if isinstance(raw, Mapping) else None
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
            if macro_layer is not None:
                props = _with_macro_layer(props, macro_layer)
            _common.emit(
                aws_lambda.function_group(
                    props, tags, source=source, name=name, field=pf, image=image
                ),
                out,
            )
        except _common.DocumentError as exc:
            out.errors.append(model.InputError(source, str(exc), exc.field))


MACRO = "DatadogServerless"


def _macro_layer(transform: Any, resolve: Any) -> int | None:
    """The Datadog-Python layer version the DatadogServerless macro adds, if it does."""
    items = transform if isinstance(transform, list) else [transform]
    for item in items:
        if item == MACRO:
            return None  # no parameters: the macro needs pythonLayerVersion to add a layer
        if isinstance(item, Mapping) and item.get("Name") == MACRO:
            params = resolve(item.get("Parameters"))
            if not isinstance(params, Mapping) or params.get("addLayers") in (False, "false"):
                return None
            version = params.get("pythonLayerVersion")
            try:
                return int(str(version)) if version is not None else None
            except ValueError:
                return None
    return None


def _with_macro_layer(props: Mapping[str, Any], version: int) -> Mapping[str, Any]:
    """A Python function's properties with the layer the macro adds (unless it has one)."""
    runtime = props.get("Runtime")
    if not isinstance(runtime, str) or not runtime.startswith("python3."):
        return props
    layers = props.get("Layers")
    existing = [x for x in layers if isinstance(x, str)] if isinstance(layers, list) else []
    if any(":layer:Datadog-Python" in x for x in existing):
        return props
    archs = props.get("Architectures")
    arm = isinstance(archs, list) and "arm64" in archs
    return {**props, "Layers": [*existing, lambda_layers.arn(runtime, arm, version)]}
