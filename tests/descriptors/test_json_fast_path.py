"""The typed JSON path for Kubernetes input must read exactly what the checked path reads.

``kubernetes.parse_json`` (msgspec structs) either gives the same ParseResult as the
checked dict walk (``parsers.parse_text``) or declines (None), leaving the document to the
checked path; it never gives a different answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ddcompat.shared import model, parsers
from ddcompat.shared.parsers import kubernetes

HERE = Path(__file__).parent


def _checked(doc: object) -> model.ParseResult:
    return parsers.parse_text(json.dumps(doc), "m.json", suffix=".json", path=None, explicit=True)


def _typed(doc: object) -> model.ParseResult | None:
    return kubernetes.parse_json(json.dumps(doc).encode(), "m.json")


def _documents() -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for f in sorted((HERE / "kubernetes").rglob("*")) + sorted((HERE / "corpus").iterdir()):
        if f.name == "expected.yaml" or f.suffix not in (".yaml", ".json"):
            continue
        try:
            docs = list(yaml.safe_load_all(f.read_text(encoding="utf-8-sig")))
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


# Documents in the plain shape (the typed path must take them and agree), and the same
# with the irregularities people write (nulls, numbers, booleans where strings belong).
texts = st.sampled_from(["", "app", "python:3.11-slim", "true", "1", "safe", "1.20.0", "v1"])
irregular = st.one_of(st.none(), st.integers(0, 3), st.booleans())
env_names = st.sampled_from(
    ["DD_APPSEC_ENABLED", "DD_REMOTE_CONFIGURATION_ENABLED", "DD_IAST_ENABLED", "PYTHON_VERSION"]
)
ann_keys = st.sampled_from(
    [
        "ddcompat.io/ddtrace-version",
        "ddcompat.io/app.ddtrace-version",
        "ddcompat.io/features",
        "ddcompat.io/exempt",
        "admission.datadoghq.com/python-lib.version",
        "kubectl.kubernetes.io/default-container",
        "team",
    ]
)
selector = st.dictionaries(
    st.sampled_from(["kubernetes.io/arch", "kubernetes.io/os", "pool"]),
    st.sampled_from(["arm64", "amd64", "arm", "windows", "linux"]),
    max_size=2,
)
AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {
                    "matchExpressions": [
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}
                    ]
                }
            ]
        }
    }
}


def manifest_strategy(odd: bool) -> st.SearchStrategy[dict[str, object]]:
    def maybe(regular: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
        return st.one_of(regular, irregular) if odd else regular

    values = maybe(texts)
    env_entry = st.one_of(
        st.fixed_dictionaries({"name": env_names, "value": values}),
        st.fixed_dictionaries({"name": env_names}),
        st.fixed_dictionaries({"name": env_names, "valueFrom": st.just({"secretKeyRef": {}})}),
    )
    image = st.sampled_from(["python:3.12", "python:2.7", "envoy:1", "x/dd-lib-python-init:v2"])
    container = st.fixed_dictionaries(
        {"name": maybe(st.sampled_from(["app", "proxy"]))},
        optional={
            "image": st.one_of(image, st.none()),
            "env": st.one_of(st.lists(env_entry, max_size=4), st.none()),
        },
    )
    meta = st.fixed_dictionaries(
        {"name": maybe(st.just("web"))},
        optional={
            "namespace": st.one_of(st.just("prod"), st.none()),
            "annotations": st.one_of(st.dictionaries(ann_keys, values, max_size=3), st.none()),
            "labels": st.one_of(st.dictionaries(st.just("app"), values, max_size=1), st.none()),
        },
    )
    pod_spec = st.fixed_dictionaries(
        {"containers": maybe(st.lists(container, min_size=1, max_size=3))},
        optional={
            "initContainers": st.lists(container, max_size=2),
            "nodeSelector": st.one_of(selector, st.none()),
            "affinity": st.just(AFFINITY),
        },
    )
    template = st.fixed_dictionaries({"spec": pod_spec}, optional={"metadata": meta})
    pod = st.fixed_dictionaries(
        {"apiVersion": st.just("v1"), "kind": st.just("Pod"), "metadata": meta, "spec": pod_spec}
    )
    workload = st.fixed_dictionaries(
        {
            "apiVersion": st.just("apps/v1"),
            "kind": st.sampled_from(["Deployment", "StatefulSet", "Job", "Service"]),
            "metadata": meta,
            "spec": st.fixed_dictionaries({"template": template}),
        }
    )
    job_template = st.fixed_dictionaries({"spec": st.fixed_dictionaries({"template": template})})
    cronjob = st.fixed_dictionaries(
        {
            "apiVersion": st.just("batch/v1"),
            "kind": st.just("CronJob"),
            "metadata": meta,
            "spec": st.fixed_dictionaries({"jobTemplate": job_template}),
        }
    )
    objects = st.one_of(pod, workload, cronjob)
    items = st.lists(objects, max_size=3)
    return st.one_of(
        objects,
        st.fixed_dictionaries(
            {"apiVersion": st.just("v1"), "kind": st.just("List"), "items": items}
        ),
    )


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
