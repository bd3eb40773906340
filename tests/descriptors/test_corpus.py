"""Descriptors as people write them (anchors, CRLF, BOM, kubectl output, CloudFormation
intrinsics, Dockerfile heredocs ...) parse without crashing, and random documents never
reach a parser's internal-error guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddcompat.shared import cli, parsers, policy, report
from ddcompat.shared import matrix as matrix_mod

CORPUS = Path(__file__).parent / "corpus"

# file -> (workloads, input errors) it must yield
EXPECTED = {
    "anchors-and-merge-keys.yaml": (0, 1),  # unquoted 1.20 annotation is reported, not misread
    "windows-line-endings.yaml": (1, 0),
    "bom.json": (1, 0),
    "kubectl-get-json.json": (1, 0),
    "argo-rollout-and-crd.yaml": (1, 0),
    "compose-extension-fields.yml": (2, 0),
    "ecs-task-full.json": (1, 0),
    "lambda-config-full.json": (1, 0),
    "cfn-conditions.yaml": (1, 0),
    "Dockerfile.heredoc": (1, 0),
    "Dockerfile.scratch": (0, 0),
    "sam-events.yaml": (1, 0),
    "empty.yaml": (0, 0),
    "empty-list.json": (0, 0),
    "package.json": (0, 1),  # named explicitly, so it must be a descriptor
}


def test_corpus_is_listed() -> None:
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(name: str, seed_matrix: matrix_mod.Matrix) -> None:
    run = cli.run_check([str(CORPUS / name)], seed_matrix, policy.DEFAULT)
    assert (len(run.results), len(run.errors)) == EXPECTED[name], [str(e) for e in run.errors]
    assert not [e for e in run.errors if "internal error" in e.message]
    json.dumps(report.to_json(run))  # renders


def test_unquoted_version_is_named(seed_matrix: matrix_mod.Matrix) -> None:
    run = cli.run_check([str(CORPUS / "anchors-and-merge-keys.yaml")], seed_matrix, policy.DEFAULT)
    (err,) = run.errors
    assert err.field is not None and "ddcompat.io/ddtrace-version" in err.field
    assert "quote it" in err.message


def test_cloudformation_intrinsics(seed_matrix: matrix_mod.Matrix) -> None:
    run = cli.run_check([str(CORPUS / "cfn-conditions.yaml")], seed_matrix, policy.DEFAULT)
    (r,) = run.results
    assert r.workload.name == "Receiver"  # !Sub name with a parameter falls back to the logical id
    assert r.workload.facts.ddtrace == "1.20.1"
    assert r.workload.facts.features == frozenset()  # !If value is not known statically


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)
KEYS = [
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "template",
    "containers",
    "initContainers",
    "name",
    "image",
    "env",
    "value",
    "annotations",
    "labels",
    "nodeSelector",
    "affinity",
    "items",
    "jobTemplate",
    "services",
    "environment",
    "build",
    "platform",
    "containerDefinitions",
    "taskDefinition",
    "requiresCompatibilities",
    "runtimePlatform",
    "dockerLabels",
    "FunctionName",
    "Runtime",
    "Architectures",
    "Layers",
    "Environment",
    "Variables",
    "Tags",
    "Configuration",
    "Resources",
    "Type",
    "Properties",
    "Globals",
    "Function",
    "Parameters",
    "ddcompat.io/ddtrace-version",
    "ddcompat.io/features",
    "DD_APPSEC_ENABLED",
]
KINDS = [
    "Pod",
    "Deployment",
    "CronJob",
    "List",
    "Job",
    "AWS::Lambda::Function",
    "AWS::Serverless::Function",
    "AWS::ECS::TaskDefinition",
]
documents = st.recursive(
    st.one_of(scalars, st.sampled_from(KINDS)),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=6),
    ),
    max_leaves=40,
)


@settings(max_examples=500, deadline=None)
@given(documents)
def test_random_documents_never_hit_internal_errors(doc: object) -> None:
    text = json.dumps(doc)
    out = parsers.parse_text(text, "fuzz.json", suffix=".json", path=None, explicit=True)
    assert not [e for e in out.errors if "internal error" in e.message], out.errors
