"""One fleet scan: Kubernetes pods (resolved to their owning workloads) and descriptor
files, evaluated by the core, folded into an immutable :class:`Snapshot`.

Pods are grouped per workload and container (ReplicaSet -> Deployment, Job -> CronJob,
StatefulSet/DaemonSet/ReplicaSet/Job as themselves, bare Pods as Pods); when the pods of
one workload disagree (a rollout in progress) the worst status per feature is kept.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import msgspec

from ddcompat.shared import gc_pause, model
from ddcompat.shared import judge as judge_mod
from ddcompat.shared.images import inspector, registry
from ddcompat.shared.parsers import kubernetes as k8s_parser
from ddcompat.shared.sources import aws, files
from ddcompat.shared.sources import kubernetes as kube

log = logging.getLogger("ddcompat.scanner")


class SourceError(NamedTuple):
    """One problem a scan met in one of its sources (it never fails the scan): the
    source (``kubernetes``, ``files``, ``aws``), a reason from a fixed set (a metric label)
    and the message."""

    source: str
    reason: str
    message: str


Key = tuple[str, str, str, str]  # namespace, kind, workload, container
BARE_PODS = "(bare pods)"  # the workload of pods without a controller


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One workload-container in a snapshot."""

    result: model.WorkloadResult
    statuses: tuple[tuple[str, model.Status], ...]  # worst per feature over its pods
    pods: int


@dataclasses.dataclass(frozen=True)
class Snapshot:
    entries: dict[Key, Entry]
    completed_at: float
    duration: float
    dropped_series: int = 0
    errors: tuple[SourceError, ...] = ()
    # workload-containers kept from the previous snapshot because their file failed
    carried: int = 0
    # (image, os, arch) the inspector's caches did not know (inspected after the scan)
    image_misses: frozenset[tuple[str, str, str]] = frozenset()
    # (namespace, kind, name) -> (apiVersion, uid) of the cluster's workloads
    identities: dict[tuple[str, str, str], tuple[str, str]] = dataclasses.field(
        default_factory=dict
    )
    # (namespace, name) of the pull secrets and service accounts the pods name
    pull_secrets: frozenset[tuple[str, str]] = frozenset()
    service_accounts: frozenset[tuple[str, str]] = frozenset()


@dataclasses.dataclass
class Options:
    kubernetes: bool = False
    endpoint: kube.Endpoint | None = None
    paths: tuple[Path, ...] = ()
    page_size: int = 500
    shard: int = 0
    total_shards: int = 1
    max_series: int = 200_000
    retry: kube.Retry = dataclasses.field(default_factory=kube.Retry)
    # read each image's facts from its registry (the pods' running digests)
    inspect_images: bool = False
    # live AWS fleets (ECS, Fargate, Lambda) per region; None: not read
    aws: aws.Options | None = None


def shard_of(namespace: str, workload: str, total: int) -> int:
    """Stable across processes and restarts (unlike ``hash()``)."""
    return zlib.crc32(f"{namespace}/{workload}".encode()) % total


class Accumulator:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.entries: dict[Key, Entry] = {}
        self.image_misses: set[tuple[str, str, str]] = set()
        # (namespace, kind, name) -> (apiVersion, uid) of cluster workloads (reports' owners)
        self.identities: dict[tuple[str, str, str], tuple[str, str]] = {}
        # where the pods' registry credentials are: pull secrets, service accounts
        self.pull_secrets: set[tuple[str, str]] = set()
        self.service_accounts: set[tuple[str, str]] = set()
        self.extra_pods: dict[Key, int] = {}  # pods beyond the first with the same result

    def add(self, key: Key, result: model.WorkloadResult) -> None:
        old = self.entries.get(key)
        if old is not None and old.result is result:  # another pod of the same template
            self.extra_pods[key] = self.extra_pods.get(key, 0) + 1
            return
        statuses = {f: r.status for f, r in result.features.items()}
        if old is None:
            self.entries[key] = Entry(result, tuple(sorted(statuses.items())), 1)
            return
        merged = dict(old.statuses)
        for f, s in statuses.items():
            if f not in merged or model.STATUS_RANK[s] > model.STATUS_RANK[merged[f]]:
                merged[f] = s
        worst_result = old.result
        if (
            model.STATUS_RANK[_worst(statuses.values())]
            > model.STATUS_RANK[_worst(dict(old.statuses).values())]
        ):
            worst_result = result
        self.entries[key] = Entry(worst_result, tuple(sorted(merged.items())), old.pods + 1)

    def finish(self) -> dict[Key, Entry]:
        extra = self.extra_pods
        return {
            k: dataclasses.replace(e, pods=e.pods + extra[k]) if k in extra else e
            for k, e in self.entries.items()
        }

    def clear(self) -> None:
        self.entries.clear()
        self.extra_pods.clear()

    def mine(self, namespace: str, workload: str) -> bool:
        o = self.opts
        return o.total_shards <= 1 or shard_of(namespace, workload, o.total_shards) == o.shard


def _worst(statuses: Iterable[model.Status]) -> model.Status:
    worst: model.Status = "supported"
    for s in statuses:
        if model.STATUS_RANK[s] > model.STATUS_RANK[worst]:
            worst = s
    return worst


@dataclasses.dataclass
class Owners:
    """What the owner lookups know; empty maps when a resource was forbidden."""

    replicasets: dict[tuple[str, str], tuple[str, str]] = dataclasses.field(default_factory=dict)
    jobs: dict[tuple[str, str], tuple[str, str]] = dataclasses.field(default_factory=dict)
    # (namespace, kind, name) of a workload -> (apiVersion, uid), where an owner names them
    identities: dict[tuple[str, str, str], tuple[str, str]] = dataclasses.field(
        default_factory=dict
    )
    nodes: dict[str, model.Platform] = dataclasses.field(default_factory=dict)

    def workload_of(
        self, namespace: str, ref: tuple[str, str] | None, meta: dict[str, Any]
    ) -> tuple[str, str]:
        """The workload a pod belongs to, from its controller reference."""
        if ref is None:
            # bare pods of a namespace are one workload: a pod name is never a label value
            return "Pod", BARE_PODS
        if ref[0] == "ReplicaSet":
            return self.replicasets.get((namespace, ref[1]), ref)
        if ref[0] == "Job":
            return self.jobs.get((namespace, ref[1]), ref)
        return ref


async def _owners(
    session: aiohttp.ClientSession, opts: Options, errors: list[SourceError]
) -> Owners:
    assert opts.endpoint is not None
    owners = Owners()

    def add_owned(target: dict[tuple[str, str], tuple[str, str]], wanted: str) -> Any:
        def on_page(items: kube.Page) -> None:
            for it in items:
                meta = it.get("metadata") or {}
                ctl = k8s_parser.controller_of(meta)
                if ctl and ctl[0] == wanted:
                    ns = str(meta.get("namespace"))
                    target[(ns, str(meta.get("name")))] = ctl
                    ident = k8s_parser.controller_identity(meta)
                    if ident is not None:
                        owners.identities[(ns, *ctl)] = ident

        return on_page

    def nodes_page(items: kube.Page) -> None:
        for it in items:
            meta = it.get("metadata") or {}
            labels = meta.get("labels") or {}
            info = (it.get("status") or {}).get("nodeInfo") or {}
            os_ = labels.get("kubernetes.io/os") or info.get("operatingSystem")
            arch = labels.get("kubernetes.io/arch") or info.get("architecture")
            if os_:
                owners.nodes[str(meta.get("name"))] = model.Platform(
                    str(os_), (str(arch),) if arch else ()
                )

    lookups = [
        (
            "/apis/apps/v1/replicasets",
            add_owned(owners.replicasets, "Deployment"),
            owners.replicasets.clear,
        ),
        ("/apis/batch/v1/jobs", add_owned(owners.jobs, "CronJob"), owners.jobs.clear),
        ("/api/v1/nodes", nodes_page, owners.nodes.clear),
    ]
    for path, on_page, reset in lookups:
        try:
            await kube.list_all(
                session,
                opts.endpoint,
                path,
                on_page=on_page,
                on_restart=reset,
                page_size=opts.page_size,
                retry=opts.retry,
            )
        except kube.ListError as exc:
            # degraded: pods still resolve, one level less precisely
            reset()
            errors.append(SourceError("kubernetes", exc.reason, str(exc)))
            log.warning("degraded: %s", exc)
    return owners


async def scan_kubernetes(
    session: aiohttp.ClientSession,
    opts: Options,
    judging: judge_mod.Judge,
    acc: Accumulator,
    errors: list[SourceError],
) -> int:
    """Pods of the cluster into ``acc``; returns the number of pods seen."""
    assert opts.endpoint is not None
    owners = await _owners(session, opts, errors)
    misses = acc.image_misses
    reader, judge_workload = judging.reader, judging.evaluate
    want = misses.add
    before_pods: dict[Key, Entry] = dict(acc.entries)  # other sources survive a restart
    errors_before = len(errors)
    # Pods stamped from one template (same controller and pod-template-hash or
    # controller-revision-hash) have the same spec: read and judge one per node platform,
    # reuse the answer for the rest.
    templates: dict[
        tuple[str, tuple[str, str], str, model.Platform | None],
        list[tuple[Key, model.WorkloadResult]],
    ] = {}
    seen = 0

    def judge(
        pod: dict[str, Any],
        ns: str,
        meta: dict[str, Any],
        ref: tuple[str, str] | None,
        node: model.Platform | None,
    ) -> list[tuple[Key, model.WorkloadResult]]:
        kind, name = owners.workload_of(ns, ref, meta)
        if not acc.mine(ns, name):
            return []
        if ref is not None and (ns, kind, name) not in acc.identities:
            ident = owners.identities.get((ns, kind, name))
            if ident is None and (kind, name) == ref:  # the pod's own controller
                ident = k8s_parser.controller_identity(meta)
            if ident is not None:
                acc.identities[(ns, kind, name)] = ident
        out = model.ParseResult()
        pod["kind"] = "Pod"  # LIST items carry no kind of their own
        try:
            reader.read_document(pod, f"kubernetes/{ns}", out)
        except Exception as exc:  # one odd pod must not fail the scan
            out.errors.append(model.InputError(f"kubernetes/{ns}", repr(exc)))
        for e in out.errors:
            errors.append(SourceError("kubernetes", "bad_pod", f"{ns}/{meta.get('name')}: {e}"))
        judged = []
        running: dict[str, str] = {}
        if judging.has_source("image"):
            running = _running_images(pod)
            spec = pod.get("spec") or {}
            acc.pull_secrets.update((ns, pull) for pull in _pull_secret_names(spec))
            sa = spec.get("serviceAccountName")
            acc.service_accounts.add((ns, sa if isinstance(sa, str) and sa else "default"))
        for w in out.workloads:
            # (the image that runs: the pod's digest, read by the judge's image source)
            w = msgspec.structs.replace(w, image=running.get(w.container) or w.image)
            w = judging.facts(w, want)
            facts = w.facts
            if node is not None and not facts.platform.arch:
                sources = msgspec.structs.replace(facts.sources, platform="node")
                facts = msgspec.structs.replace(facts, platform=node, sources=sources)
            wl = msgspec.structs.replace(w, kind=kind, name=name, namespace=ns, facts=facts)
            try:
                judged.append(((ns, kind, name, w.container), judge_workload(wl)))
            except Exception as exc:  # one workload's problem never fails the scan
                errors.append(
                    SourceError("kubernetes", "internal", f"{ns}/{name}/{w.container}: {exc!r}")
                )
        return judged

    def on_page(items: kube.Page) -> None:
        nonlocal seen
        nodes = owners.nodes
        for pod in items:
            seen += 1
            meta = pod.get("metadata") or {}
            ns = meta.get("namespace") or "default"
            ref = k8s_parser.controller_of(meta)
            labels = meta.get("labels") or {}
            revision = labels.get("pod-template-hash") or labels.get("controller-revision-hash")
            node = nodes.get((pod.get("spec") or {}).get("nodeName") or "")
            if ref is not None and revision:
                tkey = (ns, ref, revision, node)
                judged = templates.get(tkey)
                if judged is None:
                    judged = templates[tkey] = judge(pod, ns, meta, ref, node)
            else:
                judged = judge(pod, ns, meta, ref, node)
            for key, result in judged:
                acc.add(key, result)

    def on_restart() -> None:
        # 410 Gone: what this listing gathered (entries, pod errors) is gathered again
        nonlocal seen
        acc.clear()
        acc.entries.update(before_pods)
        templates.clear()
        del errors[errors_before:]
        seen = 0

    await kube.list_all(
        session,
        opts.endpoint,
        "/api/v1/pods",
        on_page=on_page,
        on_restart=on_restart,
        page_size=opts.page_size,
        retry=opts.retry,
    )
    return seen


def scan_files(
    paths: Sequence[Path],
    judging: judge_mod.Judge,
    acc: Accumulator,
    errors: list[SourceError],
    previous: Snapshot | None = None,
) -> int:
    """Descriptor files into ``acc``. A file that cannot be read now keeps the entries it
    gave in ``previous`` (its workloads' series stay, as they were); returns how many."""
    parsed = files.collect(paths, reader=judging.reader)
    for e in parsed.errors:
        errors.append(SourceError("files", "bad_input", str(e)))
    carried = 0
    failed = {e.source for e in parsed.errors}
    if previous is not None and failed:
        read_now = {w.source for w in parsed.workloads}
        for key, entry in previous.entries.items():
            source = entry.result.workload.source
            if source in failed and source not in read_now and key not in acc.entries:
                acc.entries[key] = entry
                carried += 1
    for w in parsed.workloads:
        ns = w.namespace or "-"
        if not acc.mine(ns, w.name):
            continue
        try:
            result = judging.judge(w, acc.image_misses.add)
        except Exception as exc:  # one workload's problem never fails the scan
            errors.append(SourceError("files", "internal", f"{w.source}: {w.id}: {exc!r}"))
            continue
        acc.add((ns, w.kind, w.name, w.container), result)
    return carried


def scan_aws(
    regions: list[aws.RegionResult],
    judging: judge_mod.Judge,
    acc: Accumulator,
    errors: list[SourceError],
    previous: Snapshot | None = None,
) -> int:
    """Each region's workloads into ``acc`` (namespace ``<account>/<region>``: bounded
    labels); a region that failed keeps its entries of ``previous``. Returns how many
    entries were carried over."""
    carried = 0
    for region in regions:
        for service, reason, message in region.errors:
            errors.append(SourceError("aws", reason, f"{service}: {message}"))
        for e in region.resource_errors:
            errors.append(SourceError("aws", e.reason, f"{e.service}: {e.source}: {e.message}"))
        # a resource that failed alone keeps its previous entries (its series stay)
        failed_sources = {e.source for e in region.resource_errors}
        if failed_sources and previous is not None:
            for key, entry in previous.entries.items():
                if entry.result.workload.source in failed_sources and key not in acc.entries:
                    acc.entries[key] = entry
                    carried += 1
        ns = f"{region.account}/{region.region}"
        if region.failed and previous is not None:
            for key, entry in previous.entries.items():
                parts = entry.result.workload.source.split("/")
                ours = parts[0] == "aws" and len(parts) > 2 and parts[2] == region.region
                if ours and key not in acc.entries:
                    acc.entries[key] = entry
                    carried += 1
        for w in region.parsed.workloads:
            if not acc.mine(ns, w.name):
                continue
            try:
                result = judging.judge(w, acc.image_misses.add)
            except Exception as exc:  # one workload's problem never fails the scan
                errors.append(SourceError("aws", "internal", f"{w.source}: {exc!r}"))
                continue
            acc.add((ns, w.kind, w.name, w.container), result)
    return carried


def _running_images(pod: dict[str, Any]) -> dict[str, str]:
    """Container name -> the digest reference it runs (``status.containerStatuses[]
    .imageID``), so a scan judges what actually runs, not what a tag points at now."""
    statuses = (pod.get("status") or {}).get("containerStatuses")
    out: dict[str, str] = {}
    for cs in statuses if isinstance(statuses, list) else ():
        if not isinstance(cs, dict):
            continue
        name, image_id = cs.get("name"), cs.get("imageID")
        if isinstance(name, str) and isinstance(image_id, str) and "@sha256:" in image_id:
            out[name] = image_id.removeprefix("docker-pullable://")
    return out


def _pull_secret_names(obj: dict[str, Any]) -> Iterator[str]:
    """The names in an object's ``imagePullSecrets`` (a pod spec, a service account)."""
    for ref in obj.get("imagePullSecrets") or ():
        if isinstance(ref, dict) and isinstance(ref.get("name"), str):
            yield ref["name"]


async def pull_credentials(
    session: aiohttp.ClientSession,
    endpoint: kube.Endpoint,
    snap: Snapshot,
    read: set[tuple[str, str]],
) -> dict[str, tuple[str, str]]:
    """Registry credentials from the pods' ``imagePullSecrets`` and their service
    accounts' (read once each: ``read`` remembers; needs `get` on secrets and
    serviceaccounts, granted by the chart only with --inspect-images)."""
    secrets = set(snap.pull_secrets)
    for ns, name in sorted(snap.service_accounts - read):
        read.add((ns, name))
        sa = await kube.get_json(
            session, endpoint, f"/api/v1/namespaces/{ns}/serviceaccounts/{name}"
        )
        secrets.update((ns, pull) for pull in _pull_secret_names(sa or {}))
    out: dict[str, tuple[str, str]] = {}
    for ns, name in sorted(secrets - read):
        read.add((ns, name))
        secret = await kube.get_json(session, endpoint, f"/api/v1/namespaces/{ns}/secrets/{name}")
        raw = ((secret or {}).get("data") or {}).get(".dockerconfigjson")
        if not isinstance(raw, str):
            continue
        try:
            config = json.loads(base64.b64decode(raw))
        except ValueError:
            continue
        for host, creds in registry.auths_credentials(config).items():
            out.setdefault(host, creds)
    return out


def inspect_misses(
    images: inspector.Inspector, misses: frozenset[tuple[str, str, str]], workers: int = 4
) -> list[str]:
    """Inspect what a scan did not know (in a thread), a few at a time within the run
    deadline; the results, one per image."""
    return [f.result for f in inspector.inspect_many(images, sorted(misses), workers)]


def limit_series(entries: dict[Key, Entry], budget: int) -> tuple[dict[Key, Entry], int]:
    """Keep whole workload-containers, in key order, while their series fit ``budget``
    (one info series plus one per feature); return the kept ones and the dropped count."""
    kept: dict[Key, Entry] = {}
    used = dropped = 0
    for key in sorted(entries):
        entry = entries[key]
        cost = 1 + len(entry.statuses)
        if used + cost > budget:
            dropped += cost
            continue
        kept[key] = entry
        used += cost
    return kept, dropped


async def scan(
    session: aiohttp.ClientSession | None,
    opts: Options,
    judging: judge_mod.Judge,
    previous: Snapshot | None = None,
) -> Snapshot:
    """A complete scan; raises kube.ListError when the pod listing itself fails.
    ``previous``: the snapshot shown now (what a file that fails to read keeps)."""
    started = time.monotonic()
    acc = Accumulator(opts)
    errors: list[SourceError] = []
    carried = 0
    with gc_pause.paused():
        if opts.paths:
            # files are read off the event loop (/metrics and /healthz keep answering)
            carried = await asyncio.to_thread(
                scan_files, opts.paths, judging, acc, errors, previous
            )
        if opts.kubernetes:
            assert session is not None
            await scan_kubernetes(session, opts, judging, acc, errors)
        if opts.aws is not None:
            # the AWS APIs are read by boto3 in a thread: the event loop keeps serving
            regions = await asyncio.to_thread(aws.read, opts.aws)
            carried += scan_aws(regions, judging, acc, errors, previous)
    entries, dropped = limit_series(acc.finish(), opts.max_series)
    return Snapshot(
        entries=entries,
        completed_at=time.time(),
        duration=time.monotonic() - started,
        dropped_series=dropped,
        errors=tuple(errors),
        carried=carried,
        image_misses=frozenset(acc.image_misses),
        identities=dict(acc.identities),
        pull_secrets=frozenset(acc.pull_secrets),
        service_accounts=frozenset(acc.service_accounts),
    )
