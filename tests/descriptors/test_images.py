"""Python only from images that are Python (issue 13.2), and containers of other languages
skipped (13.3): image references as public manifests and Dockerfiles write them."""

from __future__ import annotations

import pytest

from ddcompat.shared import signals

PYTHON = [
    ("python:3.11-slim", "3.11"),
    ("python:3.11.9-slim-bookworm", "3.11.9"),
    ("docker.io/library/python:3.12-alpine3.20", "3.12"),
    ("python:3.13.0rc2-alpine", "3.13.0"),
    ("python:3", "3"),  # floating: PYTHON_UNKNOWN says so
    ("python", None),
    ("python:slim", None),
    ("python:latest", None),
    ("public.ecr.aws/lambda/python:3.12", "3.12"),
    ("public.ecr.aws/lambda/python:3.13-arm64", "3.13"),
    ("amazon/aws-lambda-python:3.11", "3.11"),
    ("public.ecr.aws/sam/build-python3.12", "3.12"),
    ("registry.access.redhat.com/ubi9/python-311:1-25", "3.11"),
    ("registry.access.redhat.com/ubi8/python-39", "3.9"),
    ("centos/python-38-centos7", "3.8"),
    ("quay.io/centos7/python-36-centos7:latest", "3.6"),
    ("mcr.microsoft.com/devcontainers/python:1-3.12-bookworm", "3.12"),
    ("ghcr.io/astral-sh/uv:python3.12-bookworm-slim", "3.12"),
    ("tiangolo/uvicorn-gunicorn-fastapi:python3.11", "3.11"),
    ("cimg/python:3.10.14", "3.10.14"),
    ("bitnami/python:3.11@sha256:" + "a" * 64, "3.11"),
]
NOT_PYTHON_VERSION = [
    "docker.io/acme/helloworld-python:18e3f0a",  # a git SHA is no Python "18"
    "acme/shop-python:2.4.1",  # an app release is no Python 2.4
    "ghcr.io/datadog/dd-lib-python-init:v2.21.4",
    "gcr.io/distroless/python3-debian12",
    "registry.example.com/image-processor:v1",
    "python-app:3.11",  # a repository named like Python, not a Python image
]


@pytest.mark.parametrize(("image", "version"), PYTHON)
def test_python_images_give_their_version(image: str, version: str | None) -> None:
    assert signals.python_image(image) == signals.PythonImage(True, version)


@pytest.mark.parametrize("image", NOT_PYTHON_VERSION)
def test_other_images_say_nothing_about_python(image: str) -> None:
    assert signals.python_from_image(image) is None


def test_a_huge_image_reference_is_read_in_bounded_time() -> None:
    assert signals.python_image("python:" + "3." * 100_000) == signals.PythonImage(False, None)


OTHER = [
    (signals.ContainerInput("c", "node:20-alpine"), "Node.js"),
    (signals.ContainerInput("c", "public.ecr.aws/lambda/nodejs:22"), "Node.js"),
    (signals.ContainerInput("c", "eclipse-temurin:21-jre"), "Java"),
    (signals.ContainerInput("c", "tomcat:7.0.109-jdk8-openjdk"), "Java"),
    (signals.ContainerInput("c", "public.ecr.aws/lambda/java:21"), "Java"),
    (signals.ContainerInput("c", "golang:1.22"), "Go"),
    (signals.ContainerInput("c", "mcr.microsoft.com/dotnet/aspnet:8.0"), ".NET"),
    (signals.ContainerInput("c", "ruby:3.3"), "Ruby"),
    (signals.ContainerInput("c", None, runtime="nodejs20.x"), "Node.js"),
    (signals.ContainerInput("c", None, runtime="java21"), "Java"),
    (signals.ContainerInput("c", None, runtime="dotnet8"), ".NET"),
    (signals.ContainerInput("c", None, runtime="provided.al2023"), "a custom runtime"),
    (signals.ContainerInput("c", None, runtime="ruby3.3"), "Ruby"),
    (
        signals.ContainerInput(
            "c", "acme/api:1", {"JAVA_TOOL_OPTIONS": "-javaagent:/opt/dd-java-agent.jar"}
        ),
        "Java",
    ),
    (
        signals.ContainerInput("c", "acme/web:1", {"NODE_OPTIONS": "--require dd-trace/init"}),
        "Node.js",
    ),
]


@pytest.mark.parametrize(("container", "language"), OTHER)
def test_other_languages_are_recognised(container: signals.ContainerInput, language: str) -> None:
    found = signals.other_language(container)
    assert found is not None and found[0] == language


@pytest.mark.parametrize(
    "container",
    [
        signals.ContainerInput("c", "python:3.12", {"DD_APPSEC_ENABLED": "true"}),
        signals.ContainerInput("c", "acme/api:1", {"DD_APPSEC_ENABLED": "true"}),
        # a Python Lambda runtime wins over an image name
        signals.ContainerInput("c", "node-builder:1", runtime="python3.12"),
        signals.ContainerInput("c", "acme/nodejs-tools-python:1"),
    ],
)
def test_python_or_unknown_is_not_another_language(container: signals.ContainerInput) -> None:
    assert signals.other_language(container) is None
