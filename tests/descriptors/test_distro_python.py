"""Python installed by the distribution's package manager: the release's python3 from the
table (each row with its package version and source), an explicit python3.X as it says."""

from __future__ import annotations

import csv

import pytest

from ddcompat.shared.parsers import _distro, dockerfile


@pytest.mark.parametrize(
    ("text", "python"),
    [
        (
            "FROM ubuntu:24.04\nRUN apt-get update && apt-get install -y python3 python3-pip\n",
            "3.12",
        ),
        (
            "FROM ubuntu:noble-20240605\nRUN apt install -y --no-install-recommends python3-venv\n",
            "3.12",
        ),
        ("FROM ubuntu:22.04\nRUN apt-get install -y python3\n", "3.10"),
        ("FROM ubuntu:jammy\nRUN apt install python3.11 -y\n", "3.11"),
        ("FROM debian:bookworm-slim\nRUN apt-get install -y python3\n", "3.11"),
        ("FROM debian:12.5\nRUN apt-get install -y python3\n", "3.11"),
        ("FROM debian:trixie\nRUN apt-get install -y python3-pip\n", "3.13"),
        ("FROM debian:11\nRUN apt-get install -y python3\n", "3.9"),
        ("FROM ubuntu:24.04 AS base\nRUN apt-get install -y python3\nFROM base\nCMD x\n", "3.12"),
        # not known: a release the table does not hold, or no Python installed
        ("FROM ubuntu:18.04\nRUN apt-get install -y python3\n", None),
        ("FROM ubuntu:24.04\nRUN apt-get install -y curl\n", None),
        ("FROM alpine:3.20\nRUN apk add --no-cache python3\n", None),
        # the image tag says it first
        ("FROM python:3.11-slim\nRUN apt-get install -y python3\n", "3.11"),
    ],
)
def test_distro_python(text: str, python: str | None) -> None:
    image = dockerfile.read(text)
    from ddcompat.shared import signals

    got = signals.python_from_image(image.base) or image.installed_python
    assert got == python


def test_every_row_names_its_package_and_source() -> None:
    with _distro.DATA.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert {r["distribution"] for r in rows} == {"debian", "ubuntu"}
    for r in rows:
        assert r["package_version"].startswith(r["python"]), r
        assert "python3 " + r["package_version"] in r["source"], r
