"""Descriptor files and directories: the source of ``check`` and ``scanner --path``.

``collect(paths)`` walks directories and reads each candidate file through the parsers
(:func:`ddcompat.shared.parsers.parse_file`). One file's problem never stops the others
from being reported. In a directory walk, YAML/JSON files that are no deployment
descriptor (a Helm ``values.yaml``, a ``package.json``) are ignored and listed as such;
a file named explicitly on the command line must be a descriptor.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from ddcompat.shared import model, parsers
from ddcompat.shared.parsers import _common, compose, dockerfile, kubernetes
from ddcompat.shared.sources import helm

SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox"}
)


def _candidate(name: str) -> bool:
    return name.lower().endswith(parsers.DATA_SUFFIXES) or dockerfile.is_dockerfile_name(name)


class Chart(NamedTuple):
    """A Helm chart met in a walk: its folder and the template files skipped under it."""

    root: str
    templates: list[str]


def walk(
    root: str | Path, excludes: Iterable[str] = (), charts: list[Chart] | None = None
) -> Iterator[str]:
    """Candidate files under ``root``, in a stable order (paths as strings: a fleet can
    hold tens of thousands of files, and Path objects cost more than reading some).
    A Helm chart's ``templates/`` and bundled ``charts/`` are not walked: they are
    recorded in ``charts`` (their candidate files), for the caller to render or list."""
    patterns = tuple(excludes)
    chart: Chart | None = None  # the chart whose folder the walk is in
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        if helm.CHART_FILE in filenames:
            chart = Chart(dirpath, [])
            if charts is not None:
                charts.append(chart)
            for sub in ("templates", "charts"):
                if sub in dirnames:
                    dirnames.remove(sub)
                    chart.templates.extend(_files_under(os.path.join(dirpath, sub)))
        elif chart is not None and not _inside(dirpath, chart.root):
            chart = None
        for fname in sorted(filenames):
            if not _candidate(fname):
                continue
            p = os.path.join(dirpath, fname)
            if chart is not None and _templated(p):
                chart.templates.append(p)  # a template beside Chart.yaml
                continue
            if patterns:
                rel = os.path.relpath(p, root)
                if any(
                    fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(fname, pat) for pat in patterns
                ):
                    continue
            yield p


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _templated(path: str) -> bool:
    """A file of a chart's folder that holds Go template actions (``{{ ... }}``)."""
    try:
        head = _common.read_regular(path, 1 << 16, head=True)
    except OSError:
        return False  # reported when it is read
    return b"{{" in head and b"}}" in head


def _files_under(top: str) -> list[str]:
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        out.extend(os.path.join(dirpath, f) for f in sorted(filenames) if _candidate(f))
    return out


class HelmOptions(NamedTuple):
    """``--helm-render`` (and the helm binary to run) for charts met in walks."""

    render: bool = False
    binary: str | None = None


NO_HELM = HelmOptions()


def collect(
    paths: Iterable[str | Path],
    excludes: Iterable[str] = (),
    *,
    reader: kubernetes.Reader | None = None,
    compose_options: compose.Options = compose.DEFAULT_OPTIONS,
    helm_options: HelmOptions = NO_HELM,
    ignore_unknown: bool = False,
) -> model.ParseResult:
    """Every descriptor under ``paths``; ``reader`` (its caches) is the caller's, or one
    made for this call."""
    out = model.ParseResult()
    if reader is None:
        reader = kubernetes.Reader()
    excludes = tuple(excludes)
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            charts: list[Chart] = []
            found = list(walk(p, excludes, charts))
            # build files first: the images they build are linked to the manifests that
            # run them (facts_source: build)
            first = [f for f in found if _BUILD_FILE.match(os.path.basename(f))]
            # CI workflows that build images (the walk skips hidden folders otherwise)
            workflows = p / ".github" / "workflows"
            if workflows.is_dir():
                first += sorted(
                    str(w)
                    for w in workflows.iterdir()
                    if w.suffix in (".yml", ".yaml") and w.is_file()
                )
            for f in first:
                out.extend(
                    parsers.parse_file(
                        f, f, explicit=False, reader=reader, compose_options=compose_options
                    )
                )
            out.warnings.extend(_link(out.build_links, reader))
            taken = set(first)
            for f in found:
                if f in taken:
                    continue
                out.extend(
                    parsers.parse_file(
                        f, f, explicit=False, reader=reader, compose_options=compose_options
                    )
                )
            for chart in charts:
                _chart(chart, helm_options, out, reader)
        elif p.exists():
            out.extend(
                parsers.parse_file(
                    p,
                    str(raw),
                    # (a pre-commit hook names every staged YAML: not all are descriptors)
                    explicit=not ignore_unknown,
                    reader=reader,
                    compose_options=compose_options,
                )
            )
        else:
            out.errors.append(model.InputError(str(raw), "no such file or directory"))
    if out.built_dockerfiles:
        # A Dockerfile that a compose service builds is reported through that service
        # (with the build args the service gives it).
        built = out.built_dockerfiles

        def standalone(source: str) -> bool:
            return str(Path(source).resolve()) not in built

        out.workloads = [w for w in out.workloads if w.kind != "Dockerfile" or standalone(w.source)]
        out.warnings = [w for w in out.warnings if standalone(w.source)]
        out.not_python = [
            n for n in out.not_python if n.kind != "Dockerfile" or standalone(n.source)
        ]
    return out


# skaffold.yaml and compose files (they name the images their Dockerfiles build)
_BUILD_FILE = re.compile(r"^(skaffold[^/]*|(docker-)?compose[^/]*)\.ya?ml$", re.IGNORECASE)


def _link(links: list[model.BuildLink], reader: kubernetes.Reader) -> list[model.InputError]:
    """Hand the reader the images the build files build; an image built differently by
    two of them is left unknown, with a warning naming both."""
    by_repo: dict[str, list[model.BuildLink]] = {}
    for link in links:
        if link.ddtrace or link.python:
            by_repo.setdefault(link.image.lower(), []).append(link)
    warnings = []
    chosen: dict[str, model.BuildLink] = {}
    # each image also under its shorter names (ghcr.io/acme/dbm is acme/dbm and dbm, as
    # manifests that take their registry from a variable write it), unless two differ
    short: dict[str, set[tuple[object, ...]]] = {}
    short_link: dict[str, model.BuildLink] = {}
    for link in links:
        parts = link.image.lower().split("/")
        for n in range(1, len(parts)):
            key = "/".join(parts[n:])
            short.setdefault(key, set()).add((link.ddtrace, link.python, link.frameworks))
            short_link[key] = link
    for key, said in short.items():
        if len(said) == 1 and key not in by_repo:
            chosen[key] = short_link[key]
    for repo, found in sorted(by_repo.items()):
        if len({(x.ddtrace, x.python, x.frameworks) for x in found}) > 1:
            warnings.append(
                model.InputError(
                    found[0].source,
                    f"image {repo} is built by {len(found)} build files that disagree ("
                    + "; ".join(f"{x.source}: {x.dockerfile or 'its Dockerfile'}" for x in found)
                    + "): the manifests that run it are not linked to a build",
                    "image",
                )
            )
            continue
        chosen[repo] = found[0]
    reader.build_links = chosen
    return warnings


_TEMPLATE_REASON = (
    "a Helm chart template (run `helm template` and check its output, or --helm-render)"
)


def _chart(
    chart: Chart, options: HelmOptions, out: model.ParseResult, reader: kubernetes.Reader
) -> None:
    """A chart met in a walk: rendered with helm (--helm-render), or its templates listed
    as ignored with one hint."""
    if not options.render:
        if chart.templates:
            out.ignored_files.extend(
                model.IgnoredFile(t, _TEMPLATE_REASON) for t in chart.templates
            )
            out.warnings.append(
                model.InputError(
                    chart.root,
                    f"Helm chart: {len(chart.templates)} template files not read; render it "
                    "(`helm template`, or ddcompat check --helm-render) to check its workloads",
                )
            )
        return
    try:
        rendered = helm.render(Path(chart.root), helm.helm_binary(options.binary))
    except helm.HelmError as exc:
        out.errors.append(model.InputError(chart.root, str(exc), "Chart.yaml"))
        return
    for doc in rendered:
        out.extend(
            parsers.parse_text(
                doc.text, doc.source, suffix=".yaml", path=None, explicit=False, reader=reader
            )
        )
