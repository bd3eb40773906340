"""Helpers shared by the descriptor parsers."""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from ddcompat.shared import model, signals

# The largest descriptor file read (a fleet's `kubectl get -A -o json` export is tens of
# MiB); larger ones are an input error, never read into memory.
MAX_FILE_BYTES = 256 << 20


class NotAFile(OSError):
    """A path that is not a regular file (a FIFO, a device, a socket), or too large."""


def read_regular(path: str | Path, limit: int = MAX_FILE_BYTES, *, head: bool = False) -> bytes:
    """A regular file's bytes, at most ``limit`` (``head``: its first ``limit`` bytes,
    whatever its size): opened without blocking (a FIFO named ``x.yaml`` would wait
    forever for a writer) and checked on the open descriptor."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotAFile("not a regular file (a pipe, device or socket): not read")
        if st.st_size > limit and not head:
            raise NotAFile(f"file too large ({st.st_size} bytes; at most {limit})")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            # (a read of n bytes allocates n up front: ask for the size the file has, then
            # for the rest of the limit only if it grew meanwhile)
            want = min(limit, st.st_size) + 1
            data = fh.read(want)
            if len(data) == want and want <= limit:
                data += fh.read(limit + 1 - want)
    finally:
        os.close(fd)
    if len(data) > limit:
        if head:
            return data[:limit]
        raise NotAFile(f"file too large (more than {limit} bytes)")
    return data


def decode_text(data: bytes) -> str:
    """File bytes as text: UTF-16 when a byte-order mark says so (files saved by Windows
    tools), else UTF-8 (with or without its BOM). Raises UnicodeDecodeError."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


class DocumentError(ValueError):
    """A document whose structure is wrong; ``field`` is a dotted path into it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def get_map(
    parent: Mapping[str, Any], key: str, where: str, *, required: bool = False
) -> Mapping[str, Any]:
    """``parent[key]`` as a mapping; the field path is only built for an error."""
    value = parent.get(key)
    if type(value) is dict:
        return value
    return mapping(value, join(where, key), required=required)


def get_list(
    parent: Mapping[str, Any], key: str, where: str, *, required: bool = False
) -> list[Any]:
    value = parent.get(key)
    if type(value) is list:
        return value
    return sequence(value, join(where, key), required=required)


def get_str(
    parent: Mapping[str, Any], key: str, where: str, *, required: bool = False
) -> str | None:
    value = parent.get(key)
    if type(value) is str:
        return value
    return string(value, join(where, key), required=required)


def get_str_map(parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, str]:
    value = parent.get(key)
    if value is None:
        return {}
    if type(value) is dict and all(type(v) is str for v in value.values()):
        return value
    return str_map(value, join(where, key))


def mapping(value: Any, field: str, *, required: bool = False) -> Mapping[str, Any]:
    if type(value) is dict:
        return value
    if value is None:
        if required:
            raise DocumentError(field, "missing")
        return {}
    if not isinstance(value, Mapping):
        raise DocumentError(field, f"expected a mapping, got {type(value).__name__}")
    return value


def sequence(value: Any, field: str, *, required: bool = False) -> list[Any]:
    if value is None:
        if required:
            raise DocumentError(field, "missing")
        return []
    if not isinstance(value, list):
        raise DocumentError(field, f"expected a list, got {type(value).__name__}")
    return value


def string(value: Any, field: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise DocumentError(field, "missing")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DocumentError(field, f"expected a string, got {type(value).__name__}")
    return str(value)


def str_map(value: Any, field: str) -> dict[str, str]:
    """A mapping of strings (labels, annotations, tags); non-scalar values are an error."""
    out: dict[str, str] = {}
    for k, v in mapping(value, field).items():
        if v is None:
            out[str(k)] = ""
        elif isinstance(v, float) and str(k).startswith(signals.PREFIX):
            raise DocumentError(
                f"{field}[{k}]",
                f'YAML read this value as the number {v!r}: quote it (e.g. "1.20")',
            )
        elif isinstance(v, str | int | float | bool):
            out[str(k)] = str(v).lower() if isinstance(v, bool) else str(v)
        else:
            raise DocumentError(f"{field}[{k}]", f"expected a string, got {type(v).__name__}")
    return out


class Group(msgspec.Struct):
    """A workload with one or more containers sharing metadata (a pod, a task, a function)."""

    source: str
    deployment_type: model.DeploymentType
    kind: str
    namespace: str | None
    name: str
    annotations: signals.Annotations
    containers: list[signals.ContainerInput]
    platform: model.Platform
    labels: tuple[tuple[str, str], ...] = ()
    lib_injection: str | None = None
    platform_source: model.FactSource = "default"
    skipped: int = 0
    default_container: str | None = None


def emit(group: Group, out: model.ParseResult) -> None:
    """Apply signal precedence to each container of a group and collect workloads.

    Pod-level ``ddcompat.io/`` values apply to the containers that look like Python
    (image, DD_APPSEC/IAST env, per-container keys, known pins); when none does, to the
    default container (``kubectl.kubernetes.io/default-container`` or the first one).
    """
    ann = group.annotations
    containers = group.containers
    # another language, unless a per-container ddcompat.io/ key says it is Python
    specific = bool(ann.specific)
    other = [
        None if specific and ann.has_container_specific(c.name) else signals.other_language(c)
        for c in containers
    ]
    pythonish = [
        o is None and signals.looks_python(c, ann) for c, o in zip(containers, other, strict=True)
    ]
    if containers and not any(pythonish) and (ann.has_general() or group.lib_injection):
        chosen = next((i for i, c in enumerate(containers) if c.name == group.default_container), 0)
        if other[chosen] is None or ann.has_general():
            # the pod's own ddcompat.io/ values say what it runs
            pythonish[chosen], other[chosen] = True, None
    out.skipped_containers += group.skipped
    for c, wanted, lang in zip(containers, pythonish, other, strict=True):
        if not wanted:
            out.skipped_containers += 1
            if lang is not None:
                out.not_python.append(
                    model.NotPython(
                        group.source, group.kind, group.namespace, group.name, c.name, *lang
                    )
                )
            continue
        try:
            built = signals.build_facts(
                group.deployment_type,
                c,
                ann,
                platform=group.platform,
                lib_injection=group.lib_injection,
                platform_source=group.platform_source,
            )
        except signals.SignalError as exc:
            out.errors.append(model.InputError(group.source, str(exc), exc.field))
            continue
        if built is None:
            out.skipped_containers += 1
            continue
        facts, exempt = built
        out.workloads.append(
            model.WorkloadContainer(
                source=group.source,
                kind=group.kind,
                namespace=group.namespace,
                name=group.name,
                container=c.name,
                facts=facts,
                labels=group.labels,
                exempt=exempt,
                image=c.image,
            )
        )
