"""Serverless Framework ``serverless.yml`` (AWS): each function with the ``provider``
defaults it inherits (runtime, architecture, layers, environment, tags), and what the
Datadog plugin (``serverless-plugin-datadog``) adds at deploy time from
``custom.datadog``: ``appSecMode`` / ``enableASM`` turn on Threat Detection (in the tracer
or in the extension, as the plugin decides), ``addLayers`` (default on) attaches the
Datadog layer of the function's Python, whose version the file does not say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ddcompat.shared import model
from ddcompat.shared.parsers import _common, _intrinsics, aws_lambda

PLUGIN = "serverless-plugin-datadog"


def matches(doc: Mapping[str, Any]) -> bool:
    provider = doc.get("provider")
    return (
        "service" in doc
        and isinstance(provider, Mapping)
        and isinstance(doc.get("functions"), Mapping | list)
        and "apiVersion" not in doc
    )


def _plugins(doc: Mapping[str, Any]) -> list[str]:
    plugins = doc.get("plugins")
    if isinstance(plugins, Mapping):
        plugins = plugins.get("modules")
    return [p for p in plugins if isinstance(p, str)] if isinstance(plugins, list) else []


def _functions(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        return [(str(k), v) for k, v in value.items()]
    out: list[tuple[str, Any]] = []
    for item in value:  # the old list-of-single-maps form
        if isinstance(item, Mapping):
            out.extend((str(k), v) for k, v in item.items())
    return out


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def parse(doc: Mapping[str, Any], source: str, out: model.ParseResult) -> None:
    # ${self:...} from the file itself, !Ref and the like: known where the file says
    resolved = _intrinsics.serverless_resolver(doc)(doc)
    doc = resolved if isinstance(resolved, Mapping) else doc
    try:
        provider = _common.mapping(doc.get("provider"), "provider")
        service = doc.get("service")
        service_name = service.get("name") if isinstance(service, Mapping) else service
        stage = provider.get("stage") if isinstance(provider.get("stage"), str) else "dev"
        # the plugin's settings (the plugin may be listed by name or by a local path)
        custom = doc.get("custom")
        dd = custom.get("datadog") if isinstance(custom, Mapping) else None
        datadog: Mapping[str, Any] = dd if isinstance(dd, Mapping) else {}
        if not datadog and PLUGIN in _plugins(doc):
            datadog = {"addLayers": True}
        provider_env = _common.str_map(provider.get("environment"), "provider.environment")
        provider_tags = _common.str_map(provider.get("tags"), "provider.tags")
    except _common.DocumentError as exc:
        out.errors.append(model.InputError(source, str(exc), exc.field))
        return
    for fname, raw in _functions(doc.get("functions") or {}):
        field = f"functions.{fname}"
        try:
            fn = _common.mapping(raw, field)
            if fn.get("image") is not None and fn.get("runtime") is None:
                runtime = None  # a container image function: its runtime is in the image
            else:
                runtime = _common.string(fn.get("runtime"), f"{field}.runtime") or (
                    _common.string(provider.get("runtime"), "provider.runtime")
                )
            arch = _common.string(fn.get("architecture"), f"{field}.architecture") or (
                _common.string(provider.get("architecture"), "provider.architecture")
            )
            layers = fn.get("layers", provider.get("layers"))
            env = {
                **provider_env,
                **_common.str_map(fn.get("environment"), f"{field}.environment"),
            }
            tags = {**provider_tags, **_common.str_map(fn.get("tags"), f"{field}.tags")}
            if datadog:
                _plugin_env(datadog, runtime, env)
            name = _common.string(fn.get("name"), f"{field}.name") or (
                f"{service_name}-{stage}-{fname}"
            )
            props: dict[str, Any] = {
                "Runtime": runtime,
                "Layers": [layer for layer in layers if isinstance(layer, str)]
                if isinstance(layers, list)
                else None,
                "Architectures": [arch] if arch else None,
                "Environment": {"Variables": env},
            }
            _common.emit(
                aws_lambda.function_group(props, tags, source=source, name=name, field=f"{field}."),
                out,
            )
        except _common.DocumentError as exc:
            out.errors.append(model.InputError(source, str(exc), exc.field))


def _plugin_env(datadog: Mapping[str, Any], runtime: str | None, env: dict[str, str]) -> None:
    """The variables the Datadog plugin sets on a function (its env.ts), where the
    function's own environment does not set them."""
    python = bool(runtime) and str(runtime).startswith("python")
    add_layers = datadog.get("addLayers", True) is not False
    mode = datadog.get("appSecMode")
    if mode in ("on", "tracer", "extension"):
        if mode == "tracer" or (mode == "on" and python and add_layers):
            env.setdefault("DD_APPSEC_ENABLED", "true")
        else:
            env.setdefault("DD_SERVERLESS_APPSEC_ENABLED", "true")
    elif _truthy(datadog.get("enableASM")):
        env.setdefault("DD_SERVERLESS_APPSEC_ENABLED", "true")
