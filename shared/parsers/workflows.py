"""GitHub Actions workflows (``.github/workflows/*.yml``): each step that uses
``docker/build-push-action`` names the images (``tags``) a Dockerfile (``file``, default
``<context>/Dockerfile``) builds from a context (``context``, relative to the repository).
No workload of its own: a link from the image to what its Dockerfile says, for the
manifests that run it (``facts_source: build``). A context or file written as an
expression (``${{ ... }}``) is not known."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ddcompat.shared import model
from ddcompat.shared.parsers import dockerfile

ACTION = "docker/build-push-action"


def matches(doc: Mapping[str, Any]) -> bool:
    # YAML 1.1 reads the key `on:` as True
    keys: set[Any] = set(doc)
    return isinstance(doc.get("jobs"), Mapping) and bool(keys & {"on", True})


def parse(doc: Mapping[str, Any], source: str, path: Path | None, out: model.ParseResult) -> None:
    if path is None:
        return
    root = path.resolve().parent
    if root.name == "workflows" and root.parent.name == ".github":
        root = root.parent.parent  # the repository
    for job in (doc.get("jobs") or {}).values():
        steps = job.get("steps") if isinstance(job, Mapping) else None
        for step in steps if isinstance(steps, list) else []:
            if not isinstance(step, Mapping):
                continue
            uses = step.get("uses")
            if not isinstance(uses, str) or not uses.startswith(ACTION):
                continue
            _step(step.get("with"), source, root, out)


def _step(with_: Any, source: str, root: Path, out: model.ParseResult) -> None:
    if not isinstance(with_, Mapping):
        return
    context = with_.get("context", ".")
    file = with_.get("file")
    tags = with_.get("tags")
    if not isinstance(context, str) or "${{" in context:
        return
    if file is not None and (not isinstance(file, str) or "${{" in file):
        return
    names = tags if isinstance(tags, list) else str(tags or "").replace(",", "\n").splitlines()
    images = [t.strip() for t in names if isinstance(t, str) and t.strip() and "${{" not in t]
    ctx = (root / context).resolve()
    dpath = (root / file).resolve() if file else ctx / "Dockerfile"
    if not images or not ctx.is_relative_to(root) or not dpath.is_file():
        return
    dockerfile.link_images(dpath, images, source, out, ctx)
