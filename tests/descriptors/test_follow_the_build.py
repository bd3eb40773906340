"""The requirements and lock files a Dockerfile copies from its build context are read
where they are (not only beside the Dockerfile): COPY/ADD sources against the context,
WORKDIR, `pip install -r` chains, multi-stage COPY --from; never a file outside the
context."""

from __future__ import annotations

from pathlib import Path

import pytest

from ddcompat.shared import cli, policy, report
from ddcompat.shared import matrix as matrix_mod


def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def _facts(root: Path, seed_matrix: matrix_mod.Matrix) -> dict[str, tuple[str | None, str | None]]:
    run = cli.run_check([str(root)], seed_matrix, policy.DEFAULT)
    data = report.to_json(run)
    assert not data["errors"], data["errors"]
    return {w["name"]: (w["ddtrace_version"], w["python_version"]) for w in data["workloads"]}


def test_a_requirements_file_copied_from_a_sub_folder(
    tmp_path: Path, seed_matrix: matrix_mod.Matrix
) -> None:
    _tree(
        tmp_path,
        {
            "docker/api/Dockerfile": (
                "FROM python:3.9-slim\n"
                "WORKDIR /srv\n"
                "COPY ./app/requirements.txt /app/\n"
                "COPY app/ .\n"
                "RUN pip install -r /app/requirements.txt\n"
                "ENV DD_APPSEC_ENABLED=true\n"
            ),
            "app/requirements.txt": "-r base.txt\nflask==2.3.3\n",
            "app/base.txt": "ddtrace==3.14.3\n",
            "compose.yaml": (
                "services:\n  api:\n    build: {context: ., dockerfile: docker/api/Dockerfile}\n"
            ),
        },
    )
    assert _facts(tmp_path, seed_matrix)["api"] == ("3.14.3", "3.9")


def test_workdir_relative_requirements_and_an_unpinned_tracer(
    tmp_path: Path, seed_matrix: matrix_mod.Matrix
) -> None:
    _tree(
        tmp_path,
        {
            "services/web/Dockerfile": (
                "FROM python:3.11\nWORKDIR /code\nCOPY requirements/prod.txt ./reqs.txt\n"
                "RUN pip install -r reqs.txt\nENV DD_APPSEC_ENABLED=true\n"
            ),
            "requirements/prod.txt": "ddtrace\ndjango==4.2\n",
            "deploy/compose.yaml": (
                "services:\n  web:\n    build:\n      context: ..\n"
                "      dockerfile: services/web/Dockerfile\n"
            ),
        },
    )
    assert _facts(tmp_path / "deploy", seed_matrix)["web"] == ("unpinned", "3.11")


def test_multi_stage_copy_from_and_lock_files(
    tmp_path: Path, seed_matrix: matrix_mod.Matrix
) -> None:
    _tree(
        tmp_path,
        {
            "Dockerfile": (
                "FROM python:3.12 AS build\nCOPY locks/requirements.lock.txt /tmp/req.txt\n"
                "RUN pip wheel -r /tmp/req.txt -w /wheels\n"
                "FROM python:3.12-slim\nCOPY --from=build /tmp/req.txt /srv/requirements.txt\n"
                "RUN pip install -r /srv/requirements.txt\nENV DD_APPSEC_ENABLED=true\n"
            ),
            "locks/requirements.lock.txt": "ddtrace==2.21.4\n",
        },
    )
    assert _facts(tmp_path, seed_matrix) == {tmp_path.name: ("2.21.4", "3.12")}


@pytest.mark.parametrize("outside", ["../secret/requirements.txt", "/etc/requirements.txt"])
def test_nothing_outside_the_build_context_is_read(
    tmp_path: Path, seed_matrix: matrix_mod.Matrix, outside: str
) -> None:
    _tree(
        tmp_path,
        {
            "secret/requirements.txt": "ddtrace==0.1.0\n",
            "ctx/Dockerfile": (
                f"FROM python:3.11\nCOPY {outside} /r.txt\nRUN pip install -r /r.txt\n"
                "ENV DD_APPSEC_ENABLED=true\n"
            ),
        },
    )
    assert _facts(tmp_path / "ctx", seed_matrix) == {"ctx": (None, "3.11")}
