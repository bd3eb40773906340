"""Kubernetes JSON read straight from bytes must give what the parsed document gives.

``Reader.read_json`` decodes JSON bytes into the structs a judgement reads; a document
outside the plain shape is declined (None) and read parsed (``parsers.parse_text``),
where odd values are converted or named. Both doors lead to one walk, so they must never
give different answers, and the plain shape must take the bytes door.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings

from ddcompat.shared import model, parsers
from ddcompat.shared.parsers import _common, kubernetes
from tests.strategies import manifest_strategy

HERE = Path(__file__).parent


def _checked(doc: object) -> model.ParseResult:
    return parsers.parse_text(json.dumps(doc), "m.json", suffix=".json", path=None, explicit=True)


def _typed(doc: object) -> model.ParseResult | None:
    return kubernetes.Reader().read_json(json.dumps(doc).encode(), "m.json")


def _documents() -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for f in sorted((HERE / "kubernetes").rglob("*")) + sorted((HERE / "corpus").iterdir()):
        if f.name == "expected.yaml" or f.suffix not in (".yaml", ".json"):
            continue
        try:
            docs = list(yaml.safe_load_all(_common.decode_text(f.read_bytes())))
        except yaml.YAMLError:
            continue
        for i, doc in enumerate(docs):
            if isinstance(doc, dict):
                out.append((f"{f.relative_to(HERE)}#{i}", doc))
    return out


DOCUMENTS = _documents()


@pytest.mark.parametrize("doc", [d for _, d in DOCUMENTS], ids=[n for n, _ in DOCUMENTS])
def test_fixture_documents_read_alike(doc: object) -> None:
    typed = _typed(doc)
    if typed is not None:
        assert typed == _checked(doc)


def test_plain_manifests_take_the_typed_path() -> None:
    """Without this the test above could pass by always declining."""
    taken = [name for name, doc in DOCUMENTS if _typed(doc) is not None]
    assert len(taken) >= 15, taken
    lst = json.loads((HERE / "kubernetes/list-json/list.json").read_text())
    assert _typed(lst) is not None


def test_irregular_documents_are_left_to_the_checked_path() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "annotations": {"ddcompat.io/ddtrace-version": 1.2}},
        "spec": {"containers": [{"name": "app", "image": "python:3.11"}]},
    }
    assert _typed(pod) is None  # a number where a string belongs: the checked path names it
    assert _checked(pod).errors[0].field == "metadata.annotations[ddcompat.io/ddtrace-version]"
    pod["metadata"] = {"annotations": {}}
    assert _typed(pod) is None  # no name
    assert _checked(pod).errors[0].field == "metadata.name"
    ecs = {"family": "web", "containerDefinitions": [{"name": "app", "image": "python:3.11"}]}
    assert _typed(ecs) is None  # not Kubernetes at all


@settings(max_examples=400, deadline=None)
@given(manifest_strategy(odd=False))
def test_plain_generated_manifests_take_the_typed_path(doc: dict[str, object]) -> None:
    typed = _typed(doc)
    assert typed is not None
    assert typed == _checked(doc)


@settings(max_examples=400, deadline=None)
@given(manifest_strategy(odd=True))
def test_odd_generated_manifests_read_alike(doc: dict[str, object]) -> None:
    typed = _typed(doc)
    if typed is not None:
        assert typed == _checked(doc)
