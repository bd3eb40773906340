"""Live AWS fleets: ECS and Fargate services (and standalone running tasks) with the task
definition revisions they run, and Lambda functions, read from the AWS APIs, per account
and region, into the same workloads the descriptor files give.

boto3 (the AWS SDK), called from a thread pool by the scanner and directly by ``check``:
its credential chain (environment, shared config and ``--aws-profile``, web identity for
IRSA / EKS Pod Identity, ECS and EC2 metadata) and its ``adaptive`` retry mode (client-side
rate limiting on throttling) are what an AWS fleet needs, and an async SDK would buy little
for a scan of a few thousand calls. Each region is read on its own: one that fails (access
denied, throttled past the retries, endpoint down) is an error of its own and never hides
the others.

API calls per region and scan: ``sts:GetCallerIdentity`` 1; ECS ``ListClusters``
1 per 100 clusters, ``ListServices`` 1 per 100 services, ``DescribeServices`` 1 per 10
services, ``ListTasks`` 1 per 100 standalone tasks, ``DescribeTasks`` 1 per 100,
``DescribeTaskDefinition`` 1 per distinct revision running; Lambda ``ListFunctions`` 1 per 50
functions, ``ListTags`` 1 per function, ``GetFunction`` 1 per container-image function. A
fleet of 5,000 functions and 2,000 services over 20 clusters: about 100 + 5,000 + 20 + 20 +
200 + (distinct revisions, at most 2,000) + (image functions) calls, paced at
``pace`` seconds between pages (default 0.05: 20 pages/s, below every ECS and Lambda control
plane rate limit).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from ddcompat.shared import model
from ddcompat.shared.parsers import _common, aws_lambda, ecs

# The IAM actions a scan needs (also shipped as the chart's policy file).
IAM_ACTIONS = (
    "sts:GetCallerIdentity",
    "ecs:ListClusters",
    "ecs:ListServices",
    "ecs:DescribeServices",
    "ecs:ListTasks",
    "ecs:DescribeTasks",
    "ecs:DescribeTaskDefinition",
    "lambda:ListFunctions",
    "lambda:GetFunction",
    "lambda:ListTags",
)


@dataclasses.dataclass(frozen=True)
class Options:
    regions: tuple[str, ...]
    profile: str | None = None
    endpoint_url: str | None = None  # (moto, LocalStack, a VPC endpoint)
    page_size: int = 100
    pace: float = 0.05  # seconds between pages
    max_attempts: int = 8  # the SDK's adaptive retries
    # every call: seconds to connect, and to wait for each read of the answer
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    # attempts at sts:GetCallerIdentity (a hung STS is an error in about
    # sts_attempts x read_timeout, not after the whole retry budget)
    sts_attempts: int = 2


class ServiceError(NamedTuple):
    """A region's service that could not be read (its other services are kept)."""

    service: str  # sts, ecs, lambda
    reason: str  # forbidden, throttled, unreachable, error
    message: str


@dataclasses.dataclass(frozen=True)
class ResourceError:
    """One resource that could not be read (a function deleted mid-scan, a task definition
    the role may not describe): its own error; the region's other resources are kept."""

    service: str
    reason: str  # forbidden, throttled, unreachable, error
    source: str  # the workload source it would have given (aws/<account>/<region>/...)
    message: str


@dataclasses.dataclass
class RegionResult:
    account: str
    region: str
    parsed: model.ParseResult
    errors: list[ServiceError] = dataclasses.field(default_factory=list)
    # resources that failed alone (the region is not failed for them)
    resource_errors: list[ResourceError] = dataclasses.field(default_factory=list)

    def resource_failed(self, service: str, source: str, exc: BaseException) -> None:
        self.resource_errors.append(
            ResourceError(service, _reason(exc), source, f"{type(exc).__name__}: {exc}")
        )

    @property
    def failed(self) -> bool:
        return bool(self.errors)


class AWSUnavailable(RuntimeError):
    """boto3 is not installed (``pip install 'ddcompat[aws]'``)."""


def _session(opts: Options) -> Any:
    try:
        import boto3
    except ImportError:
        raise AWSUnavailable("reading AWS needs boto3: pip install 'ddcompat[aws]'") from None
    return boto3.Session(profile_name=opts.profile)


def _client(session: Any, service: str, region: str, opts: Options) -> Any:
    from botocore.config import Config

    attempts = opts.sts_attempts if service == "sts" else opts.max_attempts
    config = Config(
        retries={"mode": "adaptive", "max_attempts": attempts},
        connect_timeout=opts.connect_timeout,
        read_timeout=opts.read_timeout,
        user_agent_extra="ddcompat",
    )
    return session.client(
        service, region_name=region, endpoint_url=opts.endpoint_url, config=config
    )


def _code(exc: BaseException) -> str:
    """The AWS error code of a failed call ("" for anything else)."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    return str(error.get("Code", "")) if isinstance(error, dict) else ""


def _reason(exc: BaseException) -> str:
    """A fixed label value for an AWS failure."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        code = _code(exc)
        if code in (
            "AccessDenied",
            "AccessDeniedException",
            "UnauthorizedOperation",
            "UnrecognizedClientException",
            "InvalidClientTokenId",
        ):
            return "forbidden"
        if "Throttl" in code or code in ("TooManyRequestsException", "RequestLimitExceeded"):
            return "throttled"
        return "error"
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return "unreachable"
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return "forbidden"
    return "error"


def _pages(client: Any, op: str, key: str, opts: Options, **kwargs: Any) -> Iterator[Any]:
    """The items of a paginated call, pacing the pages."""
    paginator = client.get_paginator(op)
    first = True
    for page in paginator.paginate(PaginationConfig={"PageSize": opts.page_size}, **kwargs):
        if not first and opts.pace:
            time.sleep(opts.pace)
        first = False
        yield from page.get(key) or ()


def read_region(region: str, opts: Options, session: Any | None = None) -> RegionResult:
    """Everything one region holds; failures are errors of the result, never raised."""
    session = session or _session(opts)
    account = "unknown"
    try:
        account = str(_client(session, "sts", region, opts).get_caller_identity()["Account"])
    except Exception as exc:  # (the region is then read without an account)
        out = RegionResult(account, region, model.ParseResult())
        out.errors.append(
            ServiceError("sts", _reason(exc), f"{region}: {type(exc).__name__}: {exc}")
        )
        if _reason(exc) == "unreachable":
            return out
    else:
        out = RegionResult(account, region, model.ParseResult())
    for service, reader in (("ecs", _read_ecs), ("lambda", _read_lambda)):
        try:
            reader(_client(session, service, region, opts), out, opts)
        except Exception as exc:  # one service failing keeps what the other read
            out.errors.append(
                ServiceError(service, _reason(exc), f"{region}: {type(exc).__name__}: {exc}")
            )
    return out


def _source(out: RegionResult, *parts: str) -> str:
    return "/".join(("aws", out.account, out.region, *parts))


def _read_ecs(client: Any, out: RegionResult, opts: Options) -> None:
    revisions: dict[str, model.DeploymentType] = {}  # task definition ARN -> launch type
    names: dict[str, str] = {}  # task definition ARN -> cluster/service it runs as
    for cluster in _pages(client, "list_clusters", "clusterArns", opts):
        where = _source(out, "ecs", _name(cluster))
        try:
            arns = list(_pages(client, "list_services", "serviceArns", opts, cluster=cluster))
        except Exception as exc:  # (a cluster deleted mid-scan: its own error)
            out.resource_failed("ecs", where, exc)
            continue
        for described in _batches(
            out, where, arns, 10, client.describe_services, "services", cluster=cluster
        ):
            for svc in described.get("services") or ():
                dtype = _launch_type(svc)
                for dep in svc.get("deployments") or [svc]:
                    td = dep.get("taskDefinition")
                    if isinstance(td, str):
                        revisions.setdefault(td, dtype)
                        names.setdefault(td, f"{_name(cluster)}/{svc.get('serviceName')}")
        try:
            tasks = list(
                _pages(
                    client, "list_tasks", "taskArns", opts, cluster=cluster, desiredStatus="RUNNING"
                )
            )
        except Exception as exc:
            out.resource_failed("ecs", where, exc)
            tasks = []
        for batch in _batches(
            out, where, tasks, 100, client.describe_tasks, "tasks", cluster=cluster
        ):
            for task in batch.get("tasks") or ():
                if str(task.get("group", "")).startswith("service:"):
                    continue  # a service's task: its revision is read through the service
                td = task.get("taskDefinitionArn")
                if isinstance(td, str):
                    revisions.setdefault(td, _launch_type(task))
                    # (arn:...:task-definition/<family>:<revision>)
                    family = td.rsplit("/", 1)[-1].split(":", 1)[0]
                    names.setdefault(td, f"{_name(cluster)}/task/{family}")
    for arn, dtype in sorted(revisions.items()):
        source = _source(out, "ecs", names[arn])
        try:
            got = client.describe_task_definition(taskDefinition=arn, include=["TAGS"])
        except Exception as exc:  # one revision the role may not read: its own error
            out.resource_failed("ecs", source, exc)
            continue
        td = dict(got.get("taskDefinition") or {})
        if got.get("tags") and "tags" not in td:
            td["tags"] = got["tags"]
        try:
            ecs.parse_task(td, source, out.parsed, dtype=dtype)
        except _common.DocumentError as exc:
            out.parsed.errors.append(model.InputError(source, str(exc), exc.field))


def _batches(
    out: RegionResult,
    where: str,
    items: list[Any],
    size: int,
    call: Callable[..., Any],
    key: str,
    **kwargs: Any,
) -> Iterator[Any]:
    """``call(key=batch, **kwargs)`` of each batch of ``items`` (ECS describes at most 10
    services, 100 tasks a call); a batch that fails is an error of ``where``, the other
    batches go on."""
    for i in range(0, len(items), size):
        try:
            yield call(**{key: items[i : i + size]}, **kwargs)
        except Exception as exc:
            out.resource_failed("ecs", where, exc)


def _launch_type(obj: dict[str, Any]) -> model.DeploymentType:
    if str(obj.get("launchType", "")).upper() == "FARGATE":
        return "fargate"
    for s in obj.get("capacityProviderStrategy") or ():
        if str(s.get("capacityProvider", "")).upper().startswith("FARGATE"):
            return "fargate"
    if str(obj.get("capacityProviderName", "")).upper().startswith("FARGATE"):
        return "fargate"
    return "ecs"


def _name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _read_lambda(client: Any, out: RegionResult, opts: Options) -> None:
    for fn in _pages(client, "list_functions", "Functions", opts):
        name = fn.get("FunctionName")
        arn = fn.get("FunctionArn")
        if not isinstance(name, str):
            continue
        source = _source(out, "lambda", name)
        tags: dict[str, str] = {}
        image = None
        try:
            if isinstance(arn, str):
                tags = dict(client.list_tags(Resource=arn).get("Tags") or {})
            if fn.get("PackageType") == "Image":
                code = client.get_function(FunctionName=name).get("Code") or {}
                image = code.get("ImageUri") if isinstance(code.get("ImageUri"), str) else None
        except Exception as exc:
            if _code(exc) != "ResourceNotFoundException":
                # (its tags may say it is exempt: it is not judged without them)
                out.resource_failed("lambda", source, exc)
            continue  # (not found: deleted since it was listed, nothing to judge)
        try:
            _common.emit(
                aws_lambda.function_group(
                    fn, tags, source=source, name=name, field="", image=image
                ),
                out.parsed,
            )
        except _common.DocumentError as exc:
            out.parsed.errors.append(model.InputError(source, str(exc), exc.field))


def read(opts: Options) -> list[RegionResult]:
    """Every region of ``opts``, one after another (each its own result)."""
    session = _session(opts)
    return [read_region(region, opts, session) for region in opts.regions]
