"""AWS Lambda: ``get-function-configuration`` and ``get-function`` JSON, and the
function part of CloudFormation/SAM templates (see ``cloudformation``).

Python from ``Runtime`` (``python3.12``) or the image; CPU from ``Architectures``
(Lambda defaults to x86_64); ``ddcompat.io/`` keys from ``Tags``; Datadog layers
(``Datadog-Python312``, ``Datadog-Python312-ARM``) mark the function as traced, give the
Python version when ``Runtime`` does not, and by their version the ddtrace they carry
(:mod:`ddcompat.shared.lambda_layers`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ddcompat.shared import lambda_layers, model, signals
from ddcompat.shared.parsers import _common

DD_LAYER = re.compile(r":layer:Datadog-Python(\d)(\d{1,2})(-ARM)?(?::|$)")


def matches(doc: Mapping[str, Any]) -> bool:
    conf = doc.get("Configuration")
    if isinstance(conf, Mapping) and "FunctionName" in conf:
        return True
    return "FunctionName" in doc and (
        "Runtime" in doc or "PackageType" in doc or "FunctionArn" in doc
    )


def layer_arns(layers: Any, field: str) -> list[str]:
    out = []
    for i, layer in enumerate(_common.sequence(layers, field)):
        if isinstance(layer, str):
            out.append(layer)
        elif isinstance(layer, Mapping) and isinstance(layer.get("Arn"), str):
            out.append(layer["Arn"])
        elif layer is not None and not isinstance(layer, Mapping):
            raise _common.DocumentError(f"{field}[{i}]", "expected a layer ARN")
    return out


def function_group(
    props: Mapping[str, Any],
    tags: Mapping[str, str],
    *,
    source: str,
    name: str,
    field: str,
    image: str | None = None,
) -> _common.Group:
    """A one-container group from Lambda function properties (API or CloudFormation casing)."""
    runtime = props.get("Runtime")
    runtime_s = runtime if isinstance(runtime, str) else None
    arns = layer_arns(props.get("Layers"), f"{field}Layers")
    layer_python = None
    layer_arm = False
    layer_arn = None
    for arn in arns:
        m = DD_LAYER.search(arn)
        if m:
            layer_python = f"{m.group(1)}.{m.group(2)}"
            layer_arm = bool(m.group(3))
            layer_arn = arn
    archs = [
        a
        for a in _common.sequence(props.get("Architectures"), f"{field}Architectures")
        if isinstance(a, str)
    ]
    arch = signals.normalize_arch(archs[0]) if archs else ("arm64" if layer_arm else "amd64")
    envs = _common.mapping(props.get("Environment"), f"{field}Environment")
    env = _common.str_map(
        {
            k: v
            for k, v in _common.mapping(
                envs.get("Variables"), f"{field}Environment.Variables"
            ).items()
            if not isinstance(v, Mapping | list)
        },
        f"{field}Environment.Variables",
    )
    runtime_python = signals.python_from_lambda_runtime(runtime_s)
    python = runtime_python or layer_python
    # the ddtrace the Datadog layer carries (derived from its release's requirement)
    ddtrace = lambda_layers.ddtrace_of(layer_arn, python) if layer_arn else None
    container = signals.ContainerInput(
        name=name,
        image=image,
        env=env,
        python_hint=python,
        python_source="lambda_runtime" if runtime_python else "lambda_layer",
        ddtrace_hint=ddtrace,
        ddtrace_source="lambda_layer",
        layer_python=layer_python,
        lambda_layer=lambda_layers.version_of(layer_arn) if layer_arn else None,
        runtime=runtime_s,
    )
    return _common.Group(
        source=source,
        deployment_type="lambda",
        kind="Function",
        namespace=None,
        name=name,
        annotations=signals.Annotations(dict(tags), f"{field}Tags"),
        containers=[container],
        platform=model.Platform("linux", (arch,)),
        platform_source="lambda_architectures"
        if archs
        else ("lambda_layer" if layer_arm else "default"),
        labels=signals.label_pairs(tags),
    )


def parse(doc: Mapping[str, Any], source: str, out: model.ParseResult) -> None:
    try:
        if isinstance(doc.get("Configuration"), Mapping):
            conf = doc["Configuration"]
            tags = _common.str_map(doc.get("Tags"), "Tags")
            code = _common.mapping(doc.get("Code"), "Code")
            image = code.get("ImageUri") if isinstance(code.get("ImageUri"), str) else None
            field = "Configuration."
        else:
            conf, tags, image, field = doc, _common.str_map(doc.get("Tags"), "Tags"), None, ""
        name = _common.string(conf.get("FunctionName"), f"{field}FunctionName", required=True)
        assert name is not None
        _common.emit(
            function_group(conf, tags, source=source, name=name, field=field, image=image), out
        )
    except _common.DocumentError as exc:
        out.errors.append(model.InputError(source, str(exc), exc.field))
