"""Only Python is judged as Python: another language's library injection (annotations or
its init image) and the Datadog Agent's own containers are listed under not_python."""

from __future__ import annotations

import json

from ddcompat.shared import parsers


def _pod(
    annotations: dict[str, str],
    containers: list[dict[str, object]],
    init: list[dict[str, str]] | None = None,
) -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "svc", "namespace": "shop"},
            "spec": {
                "template": {
                    "metadata": {"annotations": annotations},
                    "spec": {"containers": containers, "initContainers": init or []},
                }
            },
        }
    )


APPSEC = [{"name": "DD_APPSEC_ENABLED", "value": "true"}]


def _read(text: str) -> tuple[dict[str, str], list[str]]:
    out = parsers.parse_text(text, "svc.json", suffix=".json", path=None, explicit=True)
    assert not out.errors, out.errors
    return {n.container: n.language for n in out.not_python}, [w.container for w in out.workloads]


def test_another_languages_injection_annotation_is_not_python() -> None:
    text = _pod(
        {"admission.datadoghq.com/java-lib.version": "v1.44.0"},
        [{"name": "ranker", "image": "ghcr.io/acme/ranker:2.1", "env": APPSEC}],
    )
    assert _read(text) == ({"ranker": "Java"}, [])


def test_another_languages_init_image_is_not_python() -> None:
    text = _pod(
        {},
        [{"name": "chat", "image": "ghcr.io/acme/chat:7", "env": APPSEC}],
        [{"name": "datadog-lib-js-init", "image": "gcr.io/datadoghq/dd-lib-js-init:v5"}],
    )
    assert _read(text) == ({"chat": "Node.js"}, [])


def test_per_container_injection_splits_a_pod_between_languages() -> None:
    text = _pod(
        {
            "admission.datadoghq.com/api.python-lib.version": "v4.16.0",
            "admission.datadoghq.com/gateway.java-lib.version": "v1.44.0",
        },
        [
            {"name": "api", "image": "ghcr.io/acme/api:1", "env": APPSEC},
            {"name": "gateway", "image": "ghcr.io/acme/gateway:1", "env": APPSEC},
        ],
    )
    assert _read(text) == ({"gateway": "Java"}, ["api"])


def test_a_python_image_stays_python_under_a_pod_wide_other_injection() -> None:
    text = _pod(
        {"admission.datadoghq.com/js-lib.version": "v5"},
        [
            {"name": "web", "image": "node:22", "env": APPSEC},
            {"name": "worker", "image": "python:3.12-slim", "env": APPSEC},
        ],
    )
    assert _read(text) == ({"web": "Node.js"}, ["worker"])


def test_the_datadog_agents_own_containers_are_not_python() -> None:
    text = _pod(
        {},
        [
            {
                "name": "agent",
                "image": "gcr.io/datadoghq/agent:7.60.0",
                "env": [*APPSEC, {"name": "DD_APM_ENABLED", "value": "true"}],
            }
        ],
    )
    assert _read(text) == ({"agent": "the Datadog Agent"}, [])
