"""Hypothesis strategies shared by the descriptor and webhook tests."""

from __future__ import annotations

from hypothesis import strategies as st

# Documents in the plain shape (the typed path must take them and agree), and the same
# with the irregularities people write (nulls, numbers, booleans where strings belong).
texts = st.sampled_from(
    ["", "app", "python:3.11-slim", "true", "1", "safe", "1.20.0", "v1", "1.9.0", "0.50.0"]
)
irregular = st.one_of(st.none(), st.integers(0, 3), st.booleans())
env_names = st.sampled_from(
    [
        "DD_APPSEC_ENABLED",
        "DD_REMOTE_CONFIGURATION_ENABLED",
        "DD_IAST_ENABLED",
        "PYTHON_VERSION",
        "DD_SERVICE",
        "LOG_LEVEL",
    ]
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


def manifest_strategy(
    odd: bool, *, pods_only: bool = False
) -> st.SearchStrategy[dict[str, object]]:
    """Kubernetes manifests in the plain shape (``odd``: with irregular values too);
    ``pods_only``: Pods alone, some owned by a ReplicaSet (as admission reviews carry)."""

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
            "labels": st.one_of(
                st.dictionaries(st.sampled_from(["app", "pod-template-hash"]), values, max_size=2),
                st.none(),
            ),
            "ownerReferences": st.lists(
                st.fixed_dictionaries(
                    {
                        "kind": st.sampled_from(["ReplicaSet", "Job", "DaemonSet"]),
                        "name": st.sampled_from(["web-5d8f", "web", "batch-1"]),
                    },
                    optional={"controller": st.booleans(), "apiVersion": st.just("apps/v1")},
                ),
                max_size=2,
            ),
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
    if pods_only:
        return pod  # type: ignore[return-value]
    objects = st.one_of(pod, workload, cronjob)
    items = st.lists(objects, max_size=3)
    return st.one_of(
        objects,
        st.fixed_dictionaries(
            {"apiVersion": st.just("v1"), "kind": st.just("List"), "items": items}
        ),
    )
