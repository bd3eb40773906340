"""A local HTTP server that speaks the Kubernetes LIST API (pods, nodes, replicasets,
jobs) with pagination and the failures a real one shows: expiring continue tokens (410),
throttling (429), server errors, dropped connections and RBAC refusals (403)."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import orjson
from aiohttp import web

USER = "system:serviceaccount:ddcompat:scanner"
RESOURCES = {
    "/api/v1/pods": "pods",
    "/api/v1/nodes": "nodes",
    "/apis/apps/v1/replicasets": "replicasets",
    "/apis/batch/v1/jobs": "jobs",
}


@dataclasses.dataclass
class Faults:
    expire_at_page: int | None = None  # the first continue request for this page gets 410
    throttle_every: int = 0  # every n-th request: 429
    error_every: int = 0  # every n-th request: 500
    reset_every: int = 0  # every n-th request: connection dropped
    forbidden: frozenset[str] = frozenset()  # resource names answered with 403


@dataclasses.dataclass
class Stats:
    requests: int = 0
    statuses: dict[int, int] = dataclasses.field(default_factory=dict)
    resets: int = 0
    expired: int = 0
    pages: dict[str, int] = dataclasses.field(default_factory=dict)


class FakeAPIServer:
    def __init__(
        self, objects: dict[str, list[dict[str, Any]]], faults: Faults | None = None
    ) -> None:
        self.objects = objects
        self.faults = faults or Faults()
        self.stats = Stats()
        self.generation = 1
        self._expired_once = False
        self.app = web.Application()
        for path in RESOURCES:
            self.app.router.add_get(path, self.list)

    def _answer(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> web.Response:
        self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
        return web.Response(
            body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
        )

    async def list(self, request: web.Request) -> web.StreamResponse:
        resource = RESOURCES[request.path]
        st, f = self.stats, self.faults
        st.requests += 1
        n = st.requests
        if resource in f.forbidden:
            return self._answer(
                403,
                {
                    "kind": "Status",
                    "reason": "Forbidden",
                    "message": f'{resource} is forbidden: User "{USER}" cannot list resource',
                },
            )
        if f.reset_every and n % f.reset_every == 0:
            st.resets += 1
            assert request.transport is not None
            request.transport.close()
            raise ConnectionResetError("dropped by the fake API server")
        if f.throttle_every and n % f.throttle_every == 0:
            return self._answer(
                429, {"kind": "Status", "reason": "TooManyRequests"}, {"Retry-After": "0"}
            )
        if f.error_every and n % f.error_every == 0:
            return self._answer(500, {"kind": "Status", "reason": "InternalError"})
        limit = int(request.query.get("limit", "0")) or 10**9
        token = request.query.get("continue")
        offset = 0
        if token:
            gen, off = base64.b64decode(token).decode().split(":")
            offset = int(off)
            page_no = offset // limit
            if int(gen) != self.generation:
                st.expired += 1
                return self._answer(
                    410,
                    {
                        "kind": "Status",
                        "reason": "Expired",
                        "message": "The provided continue parameter is too old",
                    },
                )
            if (
                f.expire_at_page is not None
                and page_no == f.expire_at_page
                and not self._expired_once
            ):
                self._expired_once = True
                self.generation += 1  # the store compacted: every old token is now too old
                st.expired += 1
                return self._answer(410, {"kind": "Status", "reason": "Expired"})
        items = self.objects.get(resource, [])
        page = items[offset : offset + limit]
        nxt = offset + len(page)
        meta: dict[str, Any] = {"resourceVersion": str(1000 + self.generation)}
        if nxt < len(items):
            meta["continue"] = base64.b64encode(f"{self.generation}:{nxt}".encode()).decode()
            meta["remainingItemCount"] = len(items) - nxt
        st.pages[resource] = st.pages.get(resource, 0) + 1
        return self._answer(
            200, {"kind": "List", "apiVersion": "v1", "metadata": meta, "items": page}
        )


def pod(
    i: int,
    *,
    namespace: str = "shop",
    owner: tuple[str, str] | None = None,
    ddtrace: str = "1.20.0",
    image: str = "python:3.11-slim",
    node: str = "node-a",
    env: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    node_selector: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": f"pod-{i}",
        "namespace": namespace,
        "uid": f"uid-{i}",
        "annotations": {"ddcompat.io/ddtrace-version": ddtrace, **(annotations or {})},
        "managedFields": [
            {"manager": "kube-controller-manager", "fieldsV1": {"f:spec": {"f:containers": {}}}}
        ],
    }
    if owner and owner[0] == "ReplicaSet":
        meta["labels"] = {"pod-template-hash": owner[1].rsplit("-", 1)[-1]}
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": f"owner-{owner[1]}",
                "controller": True,
            }
        ]
    spec: dict[str, Any] = {
        "nodeName": node,
        "containers": [
            {
                "name": "app",
                "image": image,
                "env": [
                    {"name": k, "value": v}
                    for k, v in (env or {"DD_APPSEC_ENABLED": "true"}).items()
                ],
            },
            {"name": "proxy", "image": "envoyproxy/envoy:v1.30.1"},
        ],
    }
    if node_selector:
        spec["nodeSelector"] = node_selector
    return {"metadata": meta, "spec": spec, "status": {"phase": "Running", "podIP": "10.0.0.1"}}


def owned(kind: str, name: str, namespace: str, owner: tuple[str, str]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "ownerReferences": [{"kind": owner[0], "name": owner[1], "controller": True}],
        },
        "kind": kind,
    }


def node(name: str, os: str = "linux", arch: str = "amd64") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/os": os, "kubernetes.io/arch": arch}},
        "status": {"nodeInfo": {"operatingSystem": os, "architecture": arch}},
    }
