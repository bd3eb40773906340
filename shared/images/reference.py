"""Image references as container runtimes read them: ``python:3.12`` is
``docker.io/library/python:3.12``, a first path part with a dot, a colon or ``localhost``
names a registry, a ``@sha256:`` digest wins over a tag."""

from __future__ import annotations

import re
from typing import NamedTuple

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
MAX_REFERENCE = 512
_REPO = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class ReferenceError(ValueError):
    """Not an image reference."""


class Reference(NamedTuple):
    registry: str  # host[:port] as written (docker.io for Docker Hub)
    repository: str  # library/python
    tag: str | None
    digest: str | None

    @property
    def api_host(self) -> str:
        """The host the registry API answers on."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def ref(self) -> str:
        """The tag or digest to ask for (a digest when there is one)."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse(image: str) -> Reference:
    """The parts of an image reference; ReferenceError when it is not one."""
    text = image.strip()
    if not text or len(text) > MAX_REFERENCE:
        raise ReferenceError(f"not an image reference: {text[:80]!r}")
    name, _, digest = text.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise ReferenceError(f"unsupported digest in {text[:80]!r}")
    tag = None
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise ReferenceError(f"bad tag in {text[:80]!r}")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if not _REPO.fullmatch(repository):
        raise ReferenceError(f"bad repository in {text[:80]!r}")
    return Reference(registry, repository, tag, digest or None)
