"""Shared fixtures: the built-in matrix and a small builder of workload facts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ddcompat.shared import evaluator, model, policy
from ddcompat.shared import matrix as matrix_mod


@pytest.fixture(scope="session")
def seed_matrix() -> matrix_mod.Matrix:
    return matrix_mod.load()


def make_workload(
    *,
    deployment_type: model.DeploymentType = "kubernetes",
    ddtrace: str | None = "1.20.0",
    python: str | None = "3.11",
    os: str | None = "linux",
    arch: tuple[str, ...] = ("amd64",),
    features: tuple[str, ...] = ("threat_detection",),
    frameworks: tuple[tuple[str, str], ...] | None = None,
    remote_config: bool | None = None,
    namespace: str | None = "default",
    name: str = "app",
    labels: tuple[tuple[str, str], ...] = (),
    exempt: str | None = None,
) -> model.Workload:
    return model.Workload(
        source="test.yaml",
        kind="Deployment",
        namespace=namespace,
        name=name,
        container="app",
        facts=model.Facts(
            deployment_type=deployment_type,
            ddtrace=ddtrace,
            python=python,
            platform=model.Platform(os, arch),
            features=frozenset(features),
            frameworks=frameworks,
            remote_config=remote_config,
        ),
        labels=labels,
        exempt=exempt,
    )


Evaluate = Callable[..., model.WorkloadResult]


@pytest.fixture
def evaluate(seed_matrix: matrix_mod.Matrix) -> Evaluate:
    """Evaluate a workload built from keyword facts against the seed matrix."""

    def run(pol: policy.Policy = policy.DEFAULT, **kw: object) -> model.WorkloadResult:
        return evaluator.evaluate(make_workload(**kw), seed_matrix, pol)  # type: ignore[arg-type]

    return run


def codes(result: model.WorkloadResult, feature: str) -> list[str]:
    return [r.code for r in result.features[feature].reasons]
