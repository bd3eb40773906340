"""Amazon ECS task definitions: ``register-task-definition`` input, ``describe-task-definition``
output, and CloudFormation ``AWS::ECS::TaskDefinition`` properties (PascalCase).

Fargate when ``requiresCompatibilities`` (or ``launchType``) says FARGATE only;
``runtimePlatform`` gives OS and CPU (ECS defaults to Linux on x86_64).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ddcompat.shared import model, signals
from ddcompat.shared.parsers import _common


def _get(d: Mapping[str, Any], camel: str) -> Any:
    if camel in d:
        return d[camel]
    return d.get(camel[0].upper() + camel[1:])


def matches(doc: Mapping[str, Any]) -> bool:
    if isinstance(doc.get("taskDefinition"), Mapping):
        return True
    return isinstance(_get(doc, "containerDefinitions"), list)


def deployment_type(td: Mapping[str, Any], field: str) -> model.DeploymentType:
    launch = _common.string(_get(td, "launchType"), f"{field}launchType")
    if launch:
        return "fargate" if launch.upper() == "FARGATE" else "ecs"
    req = [
        str(x).upper()
        for x in _common.sequence(
            _get(td, "requiresCompatibilities"), f"{field}requiresCompatibilities"
        )
    ]
    if not req:
        req = [
            str(x).upper()
            for x in _common.sequence(_get(td, "compatibilities"), f"{field}compatibilities")
        ]
    return "fargate" if req and all(r == "FARGATE" for r in req) else "ecs"


def _platform(td: Mapping[str, Any], field: str) -> model.Platform:
    rp = _common.mapping(_get(td, "runtimePlatform"), f"{field}runtimePlatform")
    os_raw = _common.string(
        _get(rp, "operatingSystemFamily"), f"{field}runtimePlatform.operatingSystemFamily"
    )
    arch_raw = _common.string(
        _get(rp, "cpuArchitecture"), f"{field}runtimePlatform.cpuArchitecture"
    )
    return model.Platform(
        signals.normalize_os(os_raw) if os_raw else "linux",
        (signals.normalize_arch(arch_raw) if arch_raw else "amd64",),
    )


def _tags(value: Any, field: str) -> dict[str, str]:
    if isinstance(value, Mapping):
        return _common.str_map(value, field)
    items = _common.sequence(value, field)
    out: dict[str, str] = {}
    for i, item in enumerate(items):
        t = _common.mapping(item, f"{field}[{i}]")
        k = _get(t, "key")
        if isinstance(k, str):
            v = _get(t, "value")
            out[k] = "" if v is None else str(v)
    return out


def parse_task(
    td: Mapping[str, Any],
    source: str,
    out: model.ParseResult,
    *,
    field: str = "",
    fallback_name: str = "task",
    dtype: model.DeploymentType | None = None,
) -> None:
    name = _common.string(_get(td, "family"), f"{field}family") or fallback_name
    task_tags = _tags(_get(td, "tags"), f"{field}tags")
    defs = _common.sequence(
        _get(td, "containerDefinitions"), f"{field}containerDefinitions", required=True
    )
    platform = _platform(td, field)
    dt = dtype or deployment_type(td, field)
    # One group per task; a container's dockerLabels become its per-container keys.
    annotations = dict(task_tags)
    containers: list[signals.ContainerInput] = []
    for i, raw in enumerate(defs):
        cf = f"{field}containerDefinitions[{i}]"
        try:
            c = _common.mapping(raw, cf)
            cname = _common.string(_get(c, "name"), f"{cf}.name", required=True)
            assert cname is not None
            env: dict[str, str] = {}
            for j, e in enumerate(_common.sequence(_get(c, "environment"), f"{cf}.environment")):
                entry = _common.mapping(e, f"{cf}.environment[{j}]")
                k = _get(entry, "name")
                if isinstance(k, str):
                    v = _get(entry, "value")
                    env[k] = "" if v is None else str(v)
            for key, value in _common.str_map(
                _get(c, "dockerLabels"), f"{cf}.dockerLabels"
            ).items():
                if key.startswith(signals.PREFIX):
                    annotations[f"{signals.PREFIX}{cname}.{key[len(signals.PREFIX) :]}"] = value
        except _common.DocumentError as exc:
            out.errors.append(model.InputError(source, str(exc), exc.field))
            continue
        image = _get(c, "image")
        containers.append(
            signals.ContainerInput(
                name=cname, image=image if isinstance(image, str) else None, env=env
            )
        )
    _common.emit(
        _common.Group(
            source=source,
            deployment_type=dt,
            kind="TaskDefinition",
            namespace=None,
            name=name,
            annotations=signals.Annotations(annotations, f"{field}dockerLabels/tags"),
            containers=containers,
            platform=platform,
            platform_source="ecs_runtime_platform"
            if _get(td, "runtimePlatform") is not None
            else "default",
            labels=signals.label_pairs(task_tags),
        ),
        out,
    )


def parse(doc: Mapping[str, Any], source: str, out: model.ParseResult) -> None:
    try:
        if isinstance(doc.get("taskDefinition"), Mapping):
            td = dict(doc["taskDefinition"])
            if "tags" in doc and "tags" not in td:
                td["tags"] = doc["tags"]
            parse_task(td, source, out, field="taskDefinition.")
        else:
            parse_task(doc, source, out)
    except _common.DocumentError as exc:
        out.errors.append(model.InputError(source, str(exc), exc.field))
