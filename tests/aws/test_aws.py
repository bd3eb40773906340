"""Live AWS fleets read from moto's standalone server (issue 17): ECS and Fargate
services, Lambda functions with Datadog layers; pagination; a region that is down."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ddcompat.shared import cli, evaluator, report
from ddcompat.shared import judge as judge_mod
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared import policy as policy_mod
from ddcompat.shared.sources import aws
from tests.aws.conftest import REGION, FaultProxy, client, seed

SEED = matrix_mod.load(edition="current")


@pytest.fixture(scope="module")
def fleet(moto: str) -> str:
    seed(moto)
    return moto


def findings(results: list[Any]) -> dict[str, dict[str, tuple[str, tuple[str, ...]]]]:
    return {
        r.workload.id: {
            f: (fr.status, tuple(x.code for x in fr.reasons)) for f, fr in r.features.items()
        }
        for r in results
    }


def test_a_region_read_page_by_page(fleet: str, aws_env: None) -> None:
    opts = aws.Options(regions=(REGION,), endpoint_url=fleet, page_size=3, pace=0)
    [result] = aws.read(opts)
    assert result.errors == [] and result.account == "123456789012"
    ids = sorted(w.id for w in result.parsed.workloads)
    assert len([i for i in ids if i.startswith("fargate/")]) == 4
    assert len([i for i in ids if i.startswith("ecs/")]) == 4  # 3 services, 1 standalone task
    nightly = next(w for w in result.parsed.workloads if w.container == "job")
    assert nightly.source.endswith("/ecs/shop/task/nightly") and nightly.facts.ddtrace == "1.9.0"
    assert len([i for i in ids if i.startswith("lambda/")]) == 7  # (node-fn is not Python)
    assert [n.language for n in result.parsed.not_python] == ["Node.js"]
    fn = next(w for w in result.parsed.workloads if w.name == "fn0")
    assert fn.facts.sources.ddtrace == "lambda_layer" and fn.facts.python == "3.12"


def test_the_same_findings_as_the_fleet_exported_to_files(
    fleet: str, aws_env: None, tmp_path: Path
) -> None:
    """`aws ecs describe-task-definition` and `aws lambda get-function` output of the same
    fleet, checked as files, gives the same findings per workload."""
    ecs = client(fleet, "ecs")
    lam = client(fleet, "lambda")
    for arn in ecs.list_task_definitions()["taskDefinitionArns"]:
        td = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
        family = td["taskDefinition"]["family"]
        (tmp_path / f"{family}.json").write_text(json.dumps(td, default=str))
    for fn in lam.list_functions()["Functions"]:
        got = lam.get_function(FunctionName=fn["FunctionName"])
        got.pop("ResponseMetadata", None)
        (tmp_path / f"{fn['FunctionName']}.json").write_text(json.dumps(got, default=str))
    files = cli.run_check([str(tmp_path)], SEED, policy_mod.DEFAULT)
    [live] = aws.read(aws.Options(regions=(REGION,), endpoint_url=fleet, pace=0))
    judge = evaluator.Evaluator(SEED, policy_mod.DEFAULT)
    live_findings = findings([judge.evaluate(w) for w in live.parsed.workloads])
    file_findings = findings(files.results)
    assert live_findings == file_findings
    assert report.to_json(files)["errors"] == []


def test_a_region_that_is_down_is_its_own_error(fleet: str, aws_env: None) -> None:
    up = aws.Options(regions=(REGION,), endpoint_url=fleet, pace=0)
    down = aws.Options(
        regions=("us-east-2",), endpoint_url="http://127.0.0.1:9", pace=0, max_attempts=1
    )
    [ok] = aws.read(up)
    [bad] = aws.read(down)
    assert ok.errors == [] and ok.parsed.workloads
    assert bad.failed and {reason for _, reason, _ in bad.errors} == {"unreachable"}


def test_check_reads_regions_with_the_same_report_and_exit_codes(
    fleet: str, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        [
            "check",
            "--format",
            "json",
            "--aws-region",
            REGION,
            "--aws-endpoint-url",
            fleet,
            "--matrix-edition",
            "current",
            "--as-of",
            "2026-12-02",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert data["errors"] == []
    assert data["summary"]["workloads"] == 15 and data["summary"]["not_python"] == 1
    # services pinned to ddtrace 1.9.0 have findings at error severity: exit 1
    assert code == 1
    sources = {w["source"].split("/")[3] for w in data["workloads"]}
    assert sources == {"ecs", "lambda"}


async def test_the_scanner_keeps_a_failed_regions_previous_series(
    fleet: str, aws_env: None
) -> None:
    """Issue 17.3: workloads with bounded namespace labels <account>/<region>; a region
    that fails keeps its previous snapshot (and says so), never the others'."""
    from ddcompat.scanner import scan as scan_mod

    judging = judge_mod.Judge(SEED, policy_mod.DEFAULT)
    opts = scan_mod.Options(aws=aws.Options(regions=(REGION,), endpoint_url=fleet, pace=0))
    first = await scan_mod.scan(None, opts, judging)
    keys = set(first.entries)
    assert ("123456789012/eu-west-1", "Function", "fn0", "fn0") in keys
    assert len(keys) == 15 and first.errors == ()
    down = scan_mod.Options(
        aws=aws.Options(
            regions=(REGION,), endpoint_url="http://127.0.0.1:9", pace=0, max_attempts=1
        )
    )
    second = await scan_mod.scan(None, down, judging, first)
    assert set(second.entries) == keys and second.carried == 15
    assert {reason for source, reason, _ in second.errors if source == "aws"} == {"unreachable"}


def test_the_shipped_iam_policy_is_exactly_what_a_scan_calls() -> None:
    """Issue 17.4: least privilege, shipped; the policy lists every action the source calls
    and nothing else (read-only)."""
    root = Path(__file__).resolve().parents[2]
    policy = json.loads(
        (root / "helm" / "ddcompat" / "files" / "aws-readonly-policy.json").read_text()
    )
    [statement] = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert tuple(statement["Action"]) == aws.IAM_ACTIONS
    source = (root / "shared" / "sources" / "aws.py").read_text()
    import re

    calls = (
        set(re.findall(r'"(list_\w+|describe_\w+|get_\w+)"', source))
        | set(re.findall(r"client\.(list_\w+|describe_\w+|get_\w+)\(", source))
        | set(re.findall(r"\.(get_caller_identity)\(", source))
    )

    def action(call: str) -> str:
        return "".join(part.capitalize() for part in call.split("_"))

    named = {a.split(":", 1)[1] for a in aws.IAM_ACTIONS}
    assert {action(c) for c in calls} - {"GetPaginator"} <= named
    assert all(
        not a.split(":", 1)[1].startswith(("Create", "Update", "Delete", "Put"))
        for a in aws.IAM_ACTIONS
    )


def test_access_denied_for_one_service_keeps_the_other(fleet: str, aws_env: None) -> None:
    proxy = FaultProxy(fleet, deny="lambda")
    try:
        [result] = aws.read(aws.Options(regions=(REGION,), endpoint_url=proxy.url, pace=0))
    finally:
        proxy.close()
    assert [(s, r) for s, r, _ in result.errors] == [("lambda", "forbidden")]
    assert {w.deployment_type for w in result.parsed.workloads} == {"ecs", "fargate"}


def test_throttling_is_retried_by_the_sdk(fleet: str, aws_env: None) -> None:
    proxy = FaultProxy(fleet, throttle=2)
    try:
        [result] = aws.read(aws.Options(regions=(REGION,), endpoint_url=proxy.url, pace=0))
    finally:
        proxy.close()
    assert result.errors == []
    assert len(result.parsed.workloads) == 15
    assert proxy.counts["ecs:ListClusters"] == 3  # two throttled, then answered


def _read_through(proxy: FaultProxy, **opts: Any) -> aws.RegionResult:
    try:
        [result] = aws.read(aws.Options(regions=(REGION,), endpoint_url=proxy.url, pace=0, **opts))
    finally:
        proxy.close()
    return result


def test_one_functions_tags_denied_is_its_own_error(fleet: str, aws_env: None) -> None:
    # (issue 23.7: ListTags failing for one function aborted the region's whole Lambda read)
    result = _read_through(FaultProxy(fleet, fail={"function:fn3": (403, "AccessDeniedException")}))
    assert result.errors == []  # the region itself did not fail
    [err] = result.resource_errors
    assert (err.service, err.reason) == ("lambda", "forbidden")
    assert err.source.endswith("/lambda/fn3")
    names = {w.name for w in result.parsed.workloads if w.deployment_type == "lambda"}
    assert "fn3" not in names and len(names) == 6  # every other function read


def test_a_function_deleted_mid_scan_is_left_out_quietly(fleet: str, aws_env: None) -> None:
    result = _read_through(
        FaultProxy(fleet, fail={"function:fn2": (404, "ResourceNotFoundException")})
    )
    assert result.errors == [] and result.resource_errors == []
    names = {w.name for w in result.parsed.workloads if w.deployment_type == "lambda"}
    assert "fn2" not in names and len(names) == 6


def test_one_task_definition_denied_keeps_the_rest(fleet: str, aws_env: None) -> None:
    result = _read_through(
        FaultProxy(fleet, fail={"task-definition/svc1:": (400, "AccessDeniedException")})
    )
    assert [e.source.rsplit("/", 1)[-1] for e in result.resource_errors] == ["svc1"]
    ecs_names = {w.name for w in result.parsed.workloads if w.deployment_type != "lambda"}
    assert "svc1" not in ecs_names and len(ecs_names) >= 6


def test_check_names_the_failed_resource_and_reports_the_rest(
    fleet: str, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy = FaultProxy(fleet, fail={"function:fn3": (403, "AccessDeniedException")})
    try:
        code = cli.main(
            ["check", "--aws-region", REGION, "--aws-endpoint-url", proxy.url, "--format", "json"]
        )
    finally:
        proxy.close()
    out, _ = capsys.readouterr()
    doc = json.loads(out)
    assert code == 2  # an input error: one resource could not be read
    assert [e["source"] for e in doc["errors"]] == [f"aws/123456789012/{REGION}/lambda/fn3"]
    assert len(doc["workloads"]) == 7 + 8 - 1


def test_a_hung_sts_call_is_an_error_in_seconds(fleet: str, aws_env: None) -> None:
    import time

    started = time.monotonic()
    result = _read_through(FaultProxy(fleet, hang={"GetCallerIdentity": 30.0}), read_timeout=1.0)
    took = time.monotonic() - started
    assert [(s, r) for s, r, _ in result.errors] == [("sts", "unreachable")]
    assert took < 15  # sts_attempts x read_timeout, not 8 x 30 s
