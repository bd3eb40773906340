"""docker-compose / Compose Specification files: services with image, build,
environment, labels and platform. A ``build`` context is read through its Dockerfile."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ddcompat.shared import model, signals
from ddcompat.shared.parsers import _common, dockerfile


def matches(doc: Mapping[str, Any]) -> bool:
    services = doc.get("services")
    return isinstance(services, Mapping) and "apiVersion" not in doc and "Resources" not in doc


def _kv(value: Any, field: str) -> dict[str, str]:
    """Compose lists (``K=V`` / ``K``) or mappings."""
    if isinstance(value, list):
        out: dict[str, str] = {}
        for i, item in enumerate(value):
            s = _common.string(item, f"{field}[{i}]")
            if s is None:
                continue
            k, _, v = s.partition("=")
            out[k.strip()] = v
        return out
    return _common.str_map(value, field)


def parse(doc: Mapping[str, Any], source: str, path: Path | None, out: model.ParseResult) -> None:
    project = doc.get("name") if isinstance(doc.get("name"), str) else None
    services = _common.mapping(doc.get("services"), "services", required=True)
    for sname, raw in services.items():
        field = f"services.{sname}"
        try:
            svc = _common.mapping(raw, field)
            _service(str(sname), svc, field, project, source, path, out)
        except _common.DocumentError as exc:
            out.errors.append(model.InputError(source, str(exc), exc.field))


def _service(
    sname: str,
    svc: Mapping[str, Any],
    field: str,
    project: str | None,
    source: str,
    path: Path | None,
    out: model.ParseResult,
) -> None:
    env = _kv(svc.get("environment"), f"{field}.environment")
    labels = _kv(svc.get("labels"), f"{field}.labels")
    image = _common.string(svc.get("image"), f"{field}.image")
    platform_source: model.FactSource = "compose_platform"
    platform = signals.platform_from_string(
        _common.string(svc.get("platform"), f"{field}.platform")
    )
    cname = _common.string(svc.get("container_name"), f"{field}.container_name") or sname
    container = signals.ContainerInput(name=cname, image=image, env=env)
    build = svc.get("build")
    if build is not None and path is not None:
        if isinstance(build, str):
            context, dfile, args = build, "Dockerfile", {}
        else:
            b = _common.mapping(build, f"{field}.build")
            context = _common.string(b.get("context"), f"{field}.build.context") or "."
            dfile = _common.string(b.get("dockerfile"), f"{field}.build.dockerfile") or "Dockerfile"
            args = _kv(b.get("args"), f"{field}.build.args")
        dpath = path.parent / context / dfile
        if not dpath.is_file():
            raise _common.DocumentError(f"{field}.build", f"Dockerfile not found: {dpath}")
        built, img, _ = dockerfile.container_input(dpath, cname, env=env, build_args=args)
        out.built_dockerfiles.add(str(dpath.resolve()))
        labels = {**img.labels, **labels}
        container = built
        if platform is None and img.platform:
            platform = signals.platform_from_string(img.platform)
            platform_source = "dockerfile"
        if image and not built.python_hint:
            container.image = image
    _common.emit(
        _common.Group(
            source=source,
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
