"""Variable interpolation as Docker Compose and Dockerfiles write it (issue 13.4/13.5)."""

from __future__ import annotations

import pytest

from ddcompat.shared.parsers import _interpolate

VARS = {"SET": "v", "EMPTY": "", "IMAGE": "python:3.12-slim"}
CASES = [
    ("$SET", "v", ()),
    ("${SET}", "v", ()),
    ("${UNSET}", "", ("UNSET",)),
    ("${UNSET:-python:3.11}", "python:3.11", ()),
    ("${EMPTY:-d}", "d", ()),
    ("${EMPTY-d}", "", ()),
    ("${UNSET-d}", "d", ()),
    ("${SET:+alt}", "alt", ()),
    ("${EMPTY:+alt}", "", ()),
    ("${EMPTY+alt}", "alt", ()),
    ("${UNSET:?must be set}", "", ("UNSET",)),
    ("${EMPTY?must be set}", "", ()),
    ("${DOCKER_PLATFORM:-}", "", ()),  # getsentry/self-hosted: platform unknown
    (
        "docker.io/netboxcommunity/netbox:${VERSION-v4.1-3.0.2}",
        "docker.io/netboxcommunity/netbox:v4.1-3.0.2",
        (),
    ),
    ("${UNSET:-${IMAGE}}", "python:3.12-slim", ()),
    ("pg_isready -d $$POSTGRES_DB", "pg_isready -d $POSTGRES_DB", ()),
    ("no variables", "no variables", ()),
]


@pytest.mark.parametrize(("text", "expanded", "unresolved"), CASES)
def test_compose_forms(text: str, expanded: str, unresolved: tuple[str, ...]) -> None:
    got = _interpolate.expand(text, VARS, dollar_escape=True)
    assert (got.text, got.unresolved, got.too_long) == (expanded, unresolved, ())


def test_dockerfiles_keep_double_dollars() -> None:
    assert _interpolate.expand("echo $$", VARS).text == "echo $$"


def test_long_text_is_left_as_it_is() -> None:
    text = "${A}" * 100_000
    assert _interpolate.expand(text, VARS)[:2] == (text, ())
