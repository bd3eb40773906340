"""Skaffold (``skaffold.yaml``): each ``build.artifacts[]`` names an image and the
Dockerfile that builds it (``context``, ``docker.dockerfile``). No workload of its own: a
link from the image to what its Dockerfile says, for the manifests that run the image
(``facts_source: build``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ddcompat.shared import model
from ddcompat.shared.parsers import _common, dockerfile


def matches(doc: Mapping[str, Any]) -> bool:
    api = doc.get("apiVersion")
    return isinstance(api, str) and api.startswith("skaffold/")


def parse(doc: Mapping[str, Any], source: str, path: Path | None, out: model.ParseResult) -> None:
    if path is None:
        return
    profiles = doc.get("profiles")
    builds = [doc.get("build")] + [
        p.get("build")
        for p in (profiles if isinstance(profiles, list) else [])
        if isinstance(p, Mapping)
    ]
    for b, build in enumerate(builds):
        if not isinstance(build, Mapping):
            continue
        artifacts = build.get("artifacts")
        for i, art in enumerate(artifacts if isinstance(artifacts, list) else []):
            field = f"build.artifacts[{i}]" if b == 0 else f"profiles[{b - 1}].build.artifacts[{i}]"
            try:
                _artifact(_common.mapping(art, field), field, source, path, out)
            except _common.DocumentError as exc:
                out.warnings.append(model.InputError(source, str(exc), exc.field))


def _artifact(
    art: Mapping[str, Any], field: str, source: str, path: Path, out: model.ParseResult
) -> None:
    image = _common.string(art.get("image"), f"{field}.image")
    if not image:
        return
    docker = art.get("docker")
    if docker is not None and not isinstance(docker, Mapping):
        return
    if docker is None and any(k in art for k in ("jib", "ko", "bazel", "buildpacks", "custom")):
        return  # built without a Dockerfile: nothing here says what the image holds
    context = path.parent / (_common.string(art.get("context"), f"{field}.context") or ".")
    name = _common.string((docker or {}).get("dockerfile"), f"{field}.docker.dockerfile")
    dpath = context / (name or "Dockerfile")
    if not dpath.is_file():
        out.warnings.append(
            model.InputError(
                source, f"Dockerfile not found: {dpath} (the image {image} is not linked)", field
            )
        )
        return
    dockerfile.link_images(dpath, [image], source, out, context)
