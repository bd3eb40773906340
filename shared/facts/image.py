"""What a workload's image says (``--inspect-images``): ddtrace, Python and frameworks
read from the image in its registry by :mod:`ddcompat.shared.images.inspector`. This
source only looks in the inspector's caches (memory, then disk); an image they do not know
yet is named by its ``(image, os, arch)`` key for the front end to inspect."""

from __future__ import annotations

from collections.abc import Hashable

from ddcompat.shared import model, precedence
from ddcompat.shared.images import inspector as inspector_mod


class ImageSource:
    name = "image"
    writes: tuple[model.FactSource, ...] = ("image_config", "image_layers")
    tells: frozenset[precedence.Fact] = frozenset({"ddtrace", "python", "frameworks"})

    __slots__ = ("inspector",)

    def __init__(self, inspector: inspector_mod.Inspector) -> None:
        self.inspector = inspector

    def apply(self, w: model.WorkloadContainer) -> tuple[model.WorkloadContainer, Hashable | None]:
        if not w.image:
            return w, None
        return self.inspector.with_cached(w, w.image)

    def state(self) -> Hashable:
        # every inspection that gives facts (or moves a tag) changes what this source says
        return self.inspector.generation
