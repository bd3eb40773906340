"""Serverless Framework ``serverless.yml`` (AWS): each function with the ``provider``
defaults it inherits (runtime, architecture, layers, environment, tags), and what the
Datadog plugin (``serverless-plugin-datadog``) adds at deploy time from
``custom.datadog``: ``appSecMode`` / ``enableASM`` turn on Threat Detection (in the tracer
or in the extension, as the plugin decides), ``addLayers`` (default on) attaches the
Datadog layer of the function's Python, whose version the file does not say.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ddcompat.shared import lambda_layers, model
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


PLUGIN_LAYERS = Path(__file__).resolve().parent.parent / "data" / "serverless-plugin-layers.tsv"


@functools.cache
def _plugin_layers() -> dict[str, int]:
    """serverless-plugin-datadog version -> the Datadog-Python layer its release adds
    (read from src/layers.json at each of its tags)."""
    import csv

    with PLUGIN_LAYERS.open(encoding="utf-8", newline="") as fh:
        return {
            r["plugin_version"]: int(r["python_layer"]) for r in csv.DictReader(fh, delimiter="\t")
        }


def plugin_version(folder: Path) -> str | None:
    """The serverless-plugin-datadog version a project installs: its package-lock.json
    (npm's lock, v1-v3), else an exact version in package.json; None when neither says."""
    import json

    lock = folder / "package-lock.json"
    try:
        data = json.loads(_common.read_regular(lock, 32 << 20)) if lock.is_file() else None
    except (OSError, ValueError, _common.NotAFile):
        data = None
    if isinstance(data, Mapping):
        packages = data.get("packages") or {}
        entry = packages.get(f"node_modules/{PLUGIN}") if isinstance(packages, Mapping) else None
        if entry is None and isinstance(data.get("dependencies"), Mapping):
            entry = data["dependencies"].get(PLUGIN)
        if isinstance(entry, Mapping) and isinstance(entry.get("version"), str):
            return str(entry["version"])
    manifest = folder / "package.json"
    try:
        pkg = json.loads(_common.read_regular(manifest, 4 << 20)) if manifest.is_file() else None
    except (OSError, ValueError, _common.NotAFile):
        return None
    if isinstance(pkg, Mapping):
        for section in ("devDependencies", "dependencies"):
            deps = pkg.get(section)
            spec = deps.get(PLUGIN) if isinstance(deps, Mapping) else None
            if isinstance(spec, str) and spec.strip()[:1].isdigit():
                return spec.strip()  # an exact version (a range says no one release)
    return None


def parse(
    doc: Mapping[str, Any], source: str, out: model.ParseResult, path: Path | None = None
) -> None:
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
            if datadog and PLUGIN in _plugins(doc):
                layers = _plugin_layer(datadog, runtime, arch, layers, path, source, field, out)
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


def _plugin_layer(
    datadog: Mapping[str, Any],
    runtime: str | None,
    arch: str | None,
    layers: Any,
    path: Path | None,
    source: str,
    field: str,
    out: model.ParseResult,
) -> Any:
    """The Datadog-Python layer the plugin adds (``addLayers``, default on) to a Python
    function with none: the one its release pins, when the project's lock file names
    the release; else the function's layer stays unknown, with a warning."""
    if not (runtime and str(runtime).startswith("python3.")) or datadog.get("addLayers") is False:
        return layers
    existing = [x for x in layers if isinstance(x, str)] if isinstance(layers, list) else []
    if any(":layer:Datadog-Python" in x for x in existing):
        return layers
    version = plugin_version(path.parent) if path is not None else None
    layer = _plugin_layers().get(version) if version else None
    if layer is None:
        said = (
            f"release {version} is not in its table"
            if version
            else (
                "no package-lock.json (or exact package.json version) beside it names its release"
            )
        )
        out.warnings.append(
            model.InputError(
                source,
                f"{PLUGIN} adds the Datadog-Python layer its release pins, and {said}: the "
                "layer, and the ddtrace it carries, are unknown",
                f"{field}.layers",
            )
        )
        return layers
    # (the plugin's table is us-east-1's: the region does not change the layer's release)
    return [*existing, lambda_layers.arn(str(runtime), arch == "arm64", layer, "us-east-1")]


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
