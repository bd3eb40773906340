"""Format detection: one file (``parse_file``) or text (``parse_text``) to workloads.

Each document goes to the parser of its format. A file that cannot be read, or a
document whose structure is wrong, becomes an :class:`~ddcompat.shared.model.InputError`
naming the file (and field). Walking directories is the files source's business
(:mod:`ddcompat.shared.sources.files`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from ddcompat.shared import model
from ddcompat.shared.parsers import (
    _common,
    aws_lambda,
    cloudformation,
    compose,
    dockerfile,
    ecs,
    kubernetes,
    serverless,
    skaffold,
    workflows,
)

DATA_SUFFIXES = (".yaml", ".yml", ".json")


class Context(NamedTuple):
    """What a document's parser may need besides the document."""

    path: Path | None
    reader: kubernetes.Reader
    compose_options: compose.Options


class Format(NamedTuple):
    """One descriptor format of data files: how a document is recognised, how it is read,
    the top-level keys that say a file is one (so a broken one is reported, not ignored),
    and how to name it to a user."""

    name: str
    matches: Callable[[Mapping[str, Any]], bool]
    read: Callable[[Mapping[str, Any], str, model.ParseResult, Context], None]
    keys: tuple[str, ...]
    described: str


# The formats of YAML/JSON documents, in the order a document is tried (Dockerfiles are
# recognised by their file name or content: see parse_file).
DOCUMENT_FORMATS: tuple[Format, ...] = (
    Format(
        "skaffold",
        skaffold.matches,
        lambda doc, source, out, ctx: skaffold.parse(doc, source, ctx.path, out),
        (),
        "a skaffold.yaml",
    ),
    Format(
        "kubernetes",
        kubernetes.matches,
        lambda doc, source, out, ctx: ctx.reader.read_document(doc, source, out),
        ("apiVersion",),
        "a Kubernetes manifest",
    ),
    Format(
        "cloudformation",
        cloudformation.matches,
        lambda doc, source, out, ctx: cloudformation.parse(doc, source, out),
        ("Resources", "AWSTemplateFormatVersion"),
        "a CloudFormation/SAM template",
    ),
    Format(
        "compose",
        compose.matches,
        lambda doc, source, out, ctx: compose.parse(
            doc, source, ctx.path, out, ctx.compose_options
        ),
        ("services",),
        "a docker-compose file",
    ),
    Format(
        "serverless",
        serverless.matches,
        lambda doc, source, out, ctx: serverless.parse(doc, source, out, ctx.path),
        (),
        "a serverless.yml",
    ),
    Format(
        "ecs",
        ecs.matches,
        lambda doc, source, out, ctx: ecs.parse(doc, source, out),
        ("containerDefinitions", "taskDefinition"),
        "an ECS task definition",
    ),
    Format(
        "github-workflow",
        workflows.matches,
        lambda doc, source, out, ctx: workflows.parse(doc, source, ctx.path, out),
        (),
        "a GitHub Actions workflow",
    ),
    Format(
        "lambda",
        aws_lambda.matches,
        lambda doc, source, out, ctx: aws_lambda.parse(doc, source, out),
        ("FunctionName",),
        "a Lambda function configuration",
    ),
)
FORMATS = (*(f.name for f in DOCUMENT_FORMATS), "dockerfile")
_BY_NAME = {f.name: f for f in DOCUMENT_FORMATS}


class YAMLProblem(ValueError):
    """Text that is not valid YAML (the message is the YAML library's)."""


def detect(doc: Mapping[str, Any]) -> str | None:
    """The name of the first format whose documents look like ``doc``, or None."""
    return next((f.name for f in DOCUMENT_FORMATS if f.matches(doc)), None)


def load_documents(text: str, suffix: str) -> list[Any]:
    if suffix == ".json":
        # orjson: its errors give line and column (Kubernetes JSON in the plain shape,
        # most JSON, never comes here; hence imported on first use)
        import orjson

        data = orjson.loads(text)
        return data if isinstance(data, list) and all(isinstance(d, dict) for d in data) else [data]
    # YAML is imported when first needed: a fleet exported as JSON never needs it.
    from ddcompat.shared.parsers import _yaml

    try:
        return _yaml.load_all(text)
    except _yaml.YAMLError as exc:
        raise YAMLProblem(str(exc)) from None


# Keys that only deployment descriptors have at the top of a document: a file of a walk
# that cannot be parsed is reported when it has one (a broken manifest), else ignored.
_DESCRIPTOR_KEYS = "|".join(k for f in DOCUMENT_FORMATS for k in f.keys)
_DESCRIPTOR_SIGN = re.compile(
    rf"""^\s*(?:{_DESCRIPTOR_KEYS})\s*:|"(?:{_DESCRIPTOR_KEYS})"\s*:""", re.M
)
_UNREADABLE_OTHER = "not valid %s, and nothing in it looks like a deployment descriptor"


def _yaml_message(exc: Exception, text: str) -> str:
    msg = " ".join(str(exc).split())
    if "{{" in text:
        msg += (
            " (this looks like an unrendered Helm template:"
            " run `helm template` and check its output)"
        )
    return msg


_NOT_RECOGNISED = (
    "not a recognised deployment descriptor (expected "
    + ", ".join(f.described for f in DOCUMENT_FORMATS[:-1])
    + f" or {DOCUMENT_FORMATS[-1].described}, or a Dockerfile)"
)


def parse_text(
    text: str,
    source: str,
    *,
    suffix: str,
    path: Path | None,
    explicit: bool,
    reader: kubernetes.Reader | None = None,
    compose_options: compose.Options = compose.DEFAULT_OPTIONS,
) -> model.ParseResult:
    out = model.ParseResult()
    if reader is None:
        reader = kubernetes.Reader()
    try:
        docs = load_documents(text, suffix)
    except json.JSONDecodeError as exc:
        if not explicit and not _DESCRIPTOR_SIGN.search(text):
            # tsconfig.json, devcontainer.json (JSON with comments) ... in a walk
            out.ignored_files.append(model.IgnoredFile(source, _UNREADABLE_OTHER % "JSON"))
            return out
        out.errors.append(model.InputError(source, f"not valid JSON: {exc}"))
        return out
    except YAMLProblem as exc:
        if not explicit and not _DESCRIPTOR_SIGN.search(text):
            # mkdocs.yml (!!python tags), Ansible, CI templates ... in a walk
            out.ignored_files.append(model.IgnoredFile(source, _UNREADABLE_OTHER % "YAML"))
            return out
        out.errors.append(model.InputError(source, f"not valid YAML: {_yaml_message(exc, text)}"))
        return out
    except RecursionError:
        out.errors.append(model.InputError(source, "document nested too deeply"))
        return out
    docs = [d for d in docs if d is not None]
    if not docs:
        return out  # an empty manifest (as `helm template` may render) is no error
    if suffix == ".json" and all(
        isinstance(d, dict) and "image" in d and "name" in d for d in docs
    ):
        # only the container definitions of an ECS task (Terraform's
        # `container_definitions` file, CDK/ecs-cli exports): read as that task
        family = Path(source).stem.removesuffix(".json") or "task"
        docs = [{"family": family, "containerDefinitions": docs}]
    recognised = False
    many = len(docs) > 1
    for i, doc in enumerate(docs):
        sub = model.ParseResult()
        if not isinstance(doc, Mapping):
            if explicit or many:
                # plain text (a script, prose) reads as one YAML string: no descriptor
                plain = not many and isinstance(doc, str | int | float)
                sub.errors.append(
                    model.InputError(
                        source,
                        _NOT_RECOGNISED
                        if plain
                        else f"expected a mapping at the top of the document, got "
                        f"{type(doc).__name__}",
                        f"document {i + 1}" if many else None,
                    )
                )
                out.extend(sub)
            continue
        fmt = detect(doc)
        if fmt is None:
            continue
        recognised = True
        try:
            _BY_NAME[fmt].read(doc, source, sub, Context(path, reader, compose_options))
        except Exception as exc:  # a parser bug must not hide the other files
            sub.errors.append(
                model.InputError(source, f"internal error reading this {fmt} document: {exc!r}")
            )
        if many:
            sub.errors = [
                model.InputError(
                    e.source,
                    e.message,
                    f"document {i + 1}: {e.field}" if e.field else f"document {i + 1}",
                )
                for e in sub.errors
            ]
        out.extend(sub)
    if not recognised and not out.errors:
        if explicit:
            out.errors.append(model.InputError(source, _NOT_RECOGNISED))
        else:
            out.ignored_files.append(model.IgnoredFile(source, "not a deployment descriptor"))
    return out


def parse_file(
    path: str | Path,
    source: str | None = None,
    *,
    explicit: bool = True,
    reader: kubernetes.Reader | None = None,
    compose_options: compose.Options = compose.DEFAULT_OPTIONS,
) -> model.ParseResult:
    source = source or str(path)
    if reader is None:
        reader = kubernetes.Reader()
    name = os.path.basename(path)
    if dockerfile.is_dockerfile_name(name):
        return _dockerfile(Path(path), source)
    if explicit and name.lower() in NOT_DESCRIPTORS:
        return model.ParseResult(errors=[model.InputError(source, NOT_DESCRIPTORS[name.lower()])])
    kind = NOT_DESCRIPTOR_SUFFIXES.get(os.path.splitext(name)[1].lower())
    if explicit and kind is not None:
        return model.ParseResult(
            errors=[model.InputError(source, f"not a deployment descriptor: {kind}")]
        )
    try:
        data = read_regular(path)
    except NotAFile as exc:
        out = model.ParseResult()
        if explicit:
            out.errors.append(model.InputError(source, str(exc)))
        else:
            out.ignored_files.append(model.IgnoredFile(source, str(exc)))
        return out
    except OSError as exc:
        return model.ParseResult(
            errors=[model.InputError(source, f"cannot read: {exc.strerror or exc}")]
        )
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in DATA_SUFFIXES:
        suffix = ".yaml"
    if suffix == ".json":
        typed = reader.read_json(data, source)
        if typed is not None:
            return typed
    try:
        text = _common.decode_text(data)
    except UnicodeDecodeError:
        return model.ParseResult(
            errors=[model.InputError(source, "not UTF-8 or UTF-16 (with a byte-order mark) text")]
        )
    if explicit and suffix == ".yaml" and dockerfile.looks_like_dockerfile(text):
        # a Dockerfile by another name (named on the command line): never "not valid YAML"
        return _dockerfile(Path(path), source)
    return parse_text(
        text,
        source,
        suffix=suffix,
        path=Path(path),
        explicit=explicit,
        reader=reader,
        compose_options=compose_options,
    )


MAX_FILE_BYTES = _common.MAX_FILE_BYTES
NotAFile = _common.NotAFile
read_regular = _common.read_regular


# Files people pass by habit that are read only beside a Dockerfile: what to say.
_LOCK_NOTE = "not a deployment descriptor (a lock file: it is read beside a Dockerfile)"
# what a file named on the command line is, by its suffix, when it is no descriptor
NOT_DESCRIPTOR_SUFFIXES = {
    ".py": "a Python source file (name the Dockerfile, manifest or template that deploys it)",
    ".pyi": "a Python stub file",
    ".md": "a Markdown document",
    ".markdown": "a Markdown document",
    ".rst": "a reStructuredText document",
    ".txt": "a text file",
    ".html": "an HTML page",
    ".sh": "a shell script",
    ".cfg": "a configuration file",
    ".ini": "an INI file",
    ".toml": "a TOML file",
    ".lock": "a lock file (ddcompat reads lock files beside a Dockerfile)",
}
NOT_DESCRIPTORS = {
    name: _LOCK_NOTE
    for name in (
        "requirements.txt",
        "constraints.txt",
        "pyproject.toml",
        "poetry.lock",
        "uv.lock",
        "pdm.lock",
        "pipfile",
        "pipfile.lock",
        "setup.py",
        "setup.cfg",
    )
}


def _dockerfile(path: Path, source: str) -> model.ParseResult:
    out = model.ParseResult()
    try:
        dockerfile.parse(path, source, out)
    except OSError as exc:
        out.errors.append(model.InputError(source, f"cannot read: {exc.strerror or exc}"))
    except UnicodeDecodeError as exc:
        out.errors.append(model.InputError(source, f"not UTF-8 text: {exc.reason}"))
    return out
