"""Which source of a fact wins: one table, read by everything that sets a fact.

Each row names a source (the report's ``facts_source`` word) and how sure it is; for each
fact, :data:`ORDER` ranks the sources that can tell it: a value from a higher-ranked
source always wins over one from a lower-ranked one, whichever was read first (the
parsers, the image inspector and every later source ask :func:`first` or
:func:`outranks`). How sure a source is:

- ``declared``: someone wrote the fact down for this workload (an annotation, a tag);
- ``installed``: what the platform installs into the workload (library injection, a
  Lambda layer's bundled tracer, a Lambda runtime);
- ``observed``: read from the artefact that runs (the image's config or files);
- ``built``: what the build files pin (lock files, ``pip install`` lines, a base image);
- ``inferred``: a guess from a name or a variable (an image tag, ``PYTHON_VERSION``), or
  the default.

Adding a source of facts is one row here and its place in :data:`ORDER` (and, for a
source read after parsing, one module of :mod:`ddcompat.shared.facts`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple

from ddcompat.shared import model

Fact = Literal["ddtrace", "python", "platform", "frameworks"]
Certainty = Literal["declared", "installed", "observed", "built", "inferred"]


class Row(NamedTuple):
    source: model.FactSource
    certainty: Certainty
    what: str


# Every source of a fact: how sure it is, and what it is.
ROWS: tuple[Row, ...] = (
    Row("annotation", "declared", "`ddcompat.io/` annotations, labels and tags"),
    Row(
        "library_injection",
        "installed",
        "Datadog library injection (`admission.datadoghq.com/python-lib.version`, the "
        "`dd-lib-python-init` init image)",
    ),
    Row("image_layers", "observed", "the image's files (`--inspect-images`)"),
    Row("image_config", "observed", "the image's config and history (`--inspect-images`)"),
    Row("lambda_runtime", "installed", "the Lambda runtime (`python3.12`)"),
    Row("lambda_layer", "installed", "the Datadog Lambda layer (its release's tracer, its Python)"),
    Row("lockfile", "built", "lock and requirements files of the build"),
    Row("dockerfile", "built", "the Dockerfile (`pip install`, `FROM`)"),
    Row("image_tag", "inferred", "the image's name and tag (`python:3.12-slim`)"),
    Row("env", "inferred", "the container environment's PYTHON_VERSION"),
    Row("node_selection", "declared", "node selectors and affinity of the pod template"),
    Row("lambda_architectures", "declared", "Lambda `Architectures`"),
    Row("ecs_runtime_platform", "declared", "ECS `runtimePlatform`"),
    Row("compose_platform", "declared", "compose `platform`"),
    Row(
        "build",
        "built",
        "the Dockerfile that builds the workload's image, as a compose service (`image` and "
        "`build`), a skaffold artifact or a CI workflow (`docker/build-push-action`) in the "
        "same walk names it",
    ),
    Row(
        "node",
        "observed",
        "the node a pod runs on (the scanner; when nothing above named the architecture)",
    ),
    Row("default", "inferred", "Linux, architecture unknown"),
)

# For each fact, the sources that can tell it, highest precedence first.
ORDER: dict[Fact, tuple[model.FactSource, ...]] = {
    "ddtrace": (
        "annotation",
        "library_injection",
        "image_layers",
        "image_config",
        "lambda_layer",
        "lockfile",
        "dockerfile",
        "build",
    ),
    "python": (
        "annotation",
        "image_config",
        "image_layers",
        "lambda_runtime",
        "lambda_layer",
        "dockerfile",
        "build",
        "image_tag",
        "env",
    ),
    "platform": (
        "node_selection",
        "lambda_architectures",
        "ecs_runtime_platform",
        "compose_platform",
        "node",
        "default",
    ),
    # (frameworks keep no source of their own: what the workload's files say, then the
    # image's files when nothing else said)
    "frameworks": ("annotation", "lockfile", "build", "image_layers"),
}

_RANK: dict[tuple[str, str], int] = {
    (fact, source): i for fact, order in ORDER.items() for i, source in enumerate(order)
}
_LAST = max(len(o) for o in ORDER.values())


def rank(fact: Fact, source: str | None) -> int:
    """The source's place for ``fact`` (lower wins); past every place for a source that
    cannot tell it (or None)."""
    return _RANK.get((fact, source or ""), _LAST)


def outranks(fact: Fact, new: str | None, old: str | None) -> bool:
    """Whether a value from ``new`` replaces one from ``old`` (None: no value yet)."""
    return old is None or rank(fact, new) < rank(fact, old)


def first(
    fact: Fact, candidates: Iterable[tuple[str | None, model.FactSource]]
) -> tuple[str | None, model.FactSource | None]:
    """The value of the highest-ranked candidate that has one, and its source."""
    best: tuple[str | None, model.FactSource | None] = (None, None)
    best_rank = _LAST + 1
    for value, source in candidates:
        if value:
            r = _RANK.get((fact, source), _LAST)
            if r < best_rank:
                best, best_rank = (value, source), r
    return best


def markdown() -> str:
    """The table as the README and the contract page print it."""
    lines = [
        "| fact | sources, highest precedence first |",
        "|---|---|",
    ]
    for fact, order in ORDER.items():
        lines.append(f"| {fact} | " + " > ".join(f"`{s}`" for s in order) + " |")
    lines += ["", "| source | how sure | what |", "|---|---|---|"]
    lines += [f"| `{r.source}` | {r.certainty} | {r.what} |" for r in ROWS]
    return "\n".join(lines) + "\n"
