"""Shared fixtures: the built-in matrix and a small builder of workload facts."""

from __future__ import annotations

import asyncio
import atexit
import inspect
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

# The validated-matrix cache of this test run (and of the processes it starts) lives
# apart from the user's; tests of the cache itself point it elsewhere.
os.environ["DDCOMPAT_CACHE_DIR"] = tempfile.mkdtemp(prefix="ddcompat-test-cache-")
# The tests written for the seed page judge on its edition (commands and the processes they
# start read this); tests of the current edition select it explicitly.
os.environ["DDCOMPAT_MATRIX_EDITION"] = "seed"

from ddcompat.shared import evaluator, model, policy
from ddcompat.shared import matrix as matrix_mod

atexit.register(shutil.rmtree, os.environ["DDCOMPAT_CACHE_DIR"], ignore_errors=True)


@pytest_asyncio.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running behind it."""
    before = set(asyncio.all_tasks())
    yield

    def pending() -> list[asyncio.Task[Any]]:
        current = asyncio.current_task()
        return [t for t in asyncio.all_tasks() - before if not t.done() and t is not current]

    # closing connections take a few loop turns to wind down; a real leak stays
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1.0
    while pending() and loop.time() < deadline:
        await asyncio.sleep(0.01)
    assert not pending(), f"leaked tasks: {pending()}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every async test runs under the leaked-task check."""
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.fixturenames.insert(0, "no_leaked_tasks")


@pytest.fixture(scope="session")
def seed_matrix() -> matrix_mod.Matrix:
    return matrix_mod.load(edition="seed")


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
) -> model.WorkloadContainer:
    return model.WorkloadContainer(
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
