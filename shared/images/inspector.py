"""One image's facts: its config first (``PYTHON_VERSION``, the ``pip install ddtrace==``
of its history), then its layers top-down; cached in memory and on disk
(``$DDCOMPAT_CACHE_DIR``) by registry, repository and manifest digest, so an image is
inspected once, ever. Tags are resolved to digests each time (one HEAD). Every failure is
a result, never an exception.

A registry is believed only for its own images and only for bytes that match their
digests: the manifest, the config and every layer read are hashed as they stream and
compared with the digest asked for (a mismatch is ``corrupt``, its facts unused); an image
entry is keyed by the registry and repository it was read from, so one registry's claim
never answers for another's image. A layer's summary is kept by digest alone: it is made
only from bytes that hash to that digest, whoever served them. Every image has a byte
budget (read, and decompressed) and a deadline; a front end that stops ends the
inspections under way at their next read."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec

from ddcompat.shared import cache as cache_mod
from ddcompat.shared import model, precedence
from ddcompat.shared.images import layers, options, reference, registry
from ddcompat.shared.parsers import dockerfile

Result = Literal[
    "ok",
    "cached",
    "too_large",
    "corrupt",
    "bad_reference",
    "unreachable",
    "unauthorized",
    "not_found",
    "rate_limited",
    "bad_manifest",
    "timeout",
    "error",
]
RESULTS: tuple[str, ...] = Result.__args__  # type: ignore[attr-defined]
FORMAT = 2  # of the cached entries on disk (2: keyed by registry and repository)
# an image entry's key: (registry, repository, digest, os, arch)
ImageKey = tuple[str, str, str, str, str]


class ImageFacts(msgspec.Struct, frozen=True):
    """What an image says; ``result`` says how the inspection went (``ok``/``cached`` or
    why the facts are unknown) and ``message`` in words."""

    result: Result
    ddtrace: str | None = None
    ddtrace_from: Literal["image_config", "image_layers"] | None = None
    python: str | None = None
    python_from: Literal["image_config", "image_layers"] | None = None
    frameworks: tuple[tuple[str, str], ...] | None = None
    digest: str | None = None
    message: str = ""
    bytes_read: int = 0


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(ImageFacts)


class _Stored(msgspec.Struct):
    """A cached image entry on disk: its format, then the facts (decoded only when the
    format is this one's)."""

    format: int
    facts: msgspec.Raw


_STORED_DECODER = msgspec.json.Decoder(_Stored)
_LAYER_DECODER = msgspec.json.Decoder(layers.Summary)


def default_cache_dir() -> Path | None:
    raw = cache_mod.cache_dir_setting()
    return Path(raw) if raw else None


class Inspector:
    """Inspects images through one registry client, with its caches (memory, disk)."""

    def __init__(
        self,
        client: registry.Client,
        *,
        cache_dir: Path | None = None,
        # (the defaults live with the flags that set them)
        max_bytes: int = options.DEFAULT_MAX_BYTES,
        max_unpacked: int = options.DEFAULT_MAX_UNPACKED,
        deadline: float = options.DEFAULT_TIMEOUT,
        run_timeout: float | None = None,
        max_entries: int = 10_000,
    ) -> None:
        self.client = client
        self.max_bytes = max_bytes
        self.max_unpacked = max_unpacked
        self.deadline = deadline  # seconds per image
        self.run_timeout = run_timeout  # seconds for a run's (or a scan's) inspections
        # set by the front end when it stops: inspections under way end at their next read
        self.stopping = threading.Event()
        self.cache_dir = cache_dir / "images" if cache_dir is not None else None
        self.memory: cache_mod.Cache[ImageKey, ImageFacts] = cache_mod.Cache(
            "images", 16 << 20, max_entries=max_entries
        )
        self._lock = threading.Lock()  # (front ends inspect a few images at a time)
        # each layer's summary by digest: a layer is read once, ever, whatever image has it
        self.layers: cache_mod.Cache[tuple[str, str, str], layers.Summary] = cache_mod.Cache(
            "image-layers", 32 << 20, max_entries=max_entries
        )
        # the digest each tag had when last resolved (for lookups without a request)
        self._tags: dict[tuple[str, str, str], str] = {}
        # moves on whenever what the caches say of an image may have changed (an image
        # inspected, a tag that moved): judgements made from them are keyed by it
        self.generation = 0

    def close(self) -> None:
        """The front end is stopping: inspections under way end at their next read."""
        self.stopping.set()

    def inspect(
        self,
        image: str,
        os_: str = "linux",
        arch: str = "amd64",
        *,
        within: registry.Deadline | None = None,
    ) -> ImageFacts:
        """What one image says (``within``: a deadline for a whole run, which this
        image's own deadline cannot outlast)."""
        try:
            ref = reference.parse(image)
        except reference.ReferenceError as exc:
            return ImageFacts("bad_reference", message=str(exc))
        deadline = registry.Deadline(self.deadline, stop=self.stopping, within=within)
        try:
            top = None
            if ref.digest:
                digest = ref.digest
            elif (image, os_, arch) in self._tags:
                # seen before: one HEAD tells if it moved
                digest = self._resolve(ref, deadline)
            else:  # first sight: the manifest itself (one GET gives its digest too)
                top = self.client.top(ref, deadline)
                digest = top[0]
            if self._tags.get((image, os_, arch)) != digest:
                self._tags[(image, os_, arch)] = digest
                self.generation += 1
            key = _key(ref, digest, os_, arch)
            with self._lock:
                hit = self.memory.get(key)
            hit = hit or self._from_disk(key)
            if hit is not None:
                with self._lock:
                    self.memory.put(key, hit)
                return msgspec.structs.replace(hit, result="cached")
            facts = self._inspect(ref, digest, os_, arch, top, deadline)
        except registry.RegistryError as exc:
            return ImageFacts(exc.reason, message=str(exc))
        if facts.result == "ok":  # (failures are tried again next time)
            with self._lock:
                self.memory.put(key, facts)
                self.generation += 1
            self._to_disk(key, facts)
        return facts

    def with_cached(
        self, w: model.WorkloadContainer, image: str
    ) -> tuple[model.WorkloadContainer, tuple[str, str, str] | None]:
        """The workload with what the caches know of its image (no request), and None; or
        the workload as it was and the (image, os, arch) key to inspect later."""
        key = image_key(w, image)
        facts = self.lookup(*key)
        return (w, key) if facts is None else (apply(w, facts), None)

    def lookup(self, image: str, os_: str = "linux", arch: str = "amd64") -> ImageFacts | None:
        """What the caches know of an image, with no request (a digest reference, or a
        tag this inspector resolved before); None: not known yet (inspect it later)."""
        try:
            ref = reference.parse(image)
        except reference.ReferenceError:
            return None
        digest = ref.digest or self._tags.get((image, os_, arch))
        if digest is None:
            return None
        key = _key(ref, digest, os_, arch)
        with self._lock:
            hit = self.memory.get(key)
        if hit is None:
            hit = self._from_disk(key)
            if hit is not None:
                with self._lock:
                    self.memory.put(key, hit)
        return hit

    def _resolve(self, ref: reference.Reference, deadline: registry.Deadline) -> str:
        """The digest a tag names now, by one HEAD (what is then read by that digest is
        checked against it: a HEAD that lies gives a ``corrupt`` result, not facts)."""
        resp = self.client.request(
            "HEAD",
            ref,
            f"/v2/{ref.repository}/manifests/{ref.ref}",
            accept=registry.ACCEPT,
            deadline=deadline,
        )
        digest = resp.headers.get("Docker-Content-Digest")
        resp.drain_conn()
        resp.release_conn()
        return registry.valid_digest(digest, f"{ref}: the digest of {ref.ref}")

    def _inspect(
        self,
        ref: reference.Reference,
        digest: str,
        os_: str,
        arch: str,
        top: tuple[str, dict[str, Any], str] | None = None,
        deadline: registry.Deadline = registry.NO_DEADLINE,
    ) -> ImageFacts:
        pinned = reference.Reference(ref.registry, ref.repository, None, digest)
        _, manifest = self.client.manifest(pinned, os_, arch, top, deadline)
        config_desc = manifest.get("config")
        if config_desc is not None and not isinstance(config_desc, dict):
            raise registry.RegistryError("bad_manifest", f"{ref}: config is not an object")
        config = (
            # (blob_json checks the digest before any request is made of it)
            self.client.blob_json(pinned, config_desc["digest"], deadline=deadline)
            if config_desc and "digest" in config_desc
            else {}
        )
        py_config, ddtrace_config = _from_config(config)
        budget = layers.Budget(self.max_bytes, self.max_unpacked)
        listed = manifest.get("layers")
        if listed is not None and not isinstance(listed, list):
            raise registry.RegistryError("bad_manifest", f"{ref}: layers is not a list")
        descs = [d for d in listed or () if isinstance(d, dict)]
        for d in descs:  # (before any request or file is made from one)
            registry.valid_digest(d.get("digest"), f"{ref} layer")
        try:
            found = layers.combine(
                self._summaries(pinned, list(reversed(descs)), budget, deadline),
                python_known=py_config is not None,
            )
        except layers.TooLarge as exc:
            return ImageFacts(
                "too_large",
                digest=digest,
                message=f"too large to inspect: {exc} (read {budget.used} bytes, "
                f"{budget.unpacked} decompressed)",
                bytes_read=budget.used,
            )
        except layers.CorruptLayer as exc:
            return ImageFacts("corrupt", digest=digest, message=f"a layer cannot be read: {exc}")
        except registry.RegistryError as exc:
            return ImageFacts(exc.reason, digest=digest, message=str(exc), bytes_read=budget.used)
        ddtrace, ddtrace_from = (
            (found.ddtrace, "image_layers")
            if found.ddtrace
            else (ddtrace_config, "image_config")
            if ddtrace_config
            else (None, None)
        )
        python, python_from = (
            (py_config, "image_config")
            if py_config
            else (found.python, "image_layers")
            if found.python
            else (None, None)
        )
        return ImageFacts(
            "ok",
            ddtrace=ddtrace,
            ddtrace_from=ddtrace_from,  # type: ignore[arg-type]
            python=python,
            python_from=python_from,  # type: ignore[arg-type]
            frameworks=found.frameworks if found.layers_read else None,
            digest=digest,
            bytes_read=budget.used,
        )

    def _summaries(
        self,
        ref: reference.Reference,
        descs: list[dict[str, Any]],
        budget: layers.Budget,
        deadline: registry.Deadline,
    ) -> Iterator[layers.Summary]:
        """Each layer's summary, top-down: from the caches when its digest was read
        before (by any image), else read from the registry, checked against its digest
        (and kept)."""
        for d in descs:
            digest: str = d["digest"]  # (each checked by _inspect before any request)
            media = d.get("mediaType")
            media = media if isinstance(media, str) else ""
            if "foreign" in media or "nondistributable" in media:
                continue
            key = ("layer", digest, "")
            with self._lock:
                known = self.layers.get(key)
            if known is None:
                known = self._layer_from_disk(digest)
            if known is None:
                resp = self.client.blob(ref, digest, deadline)
                body = registry.Verified(resp, digest, deadline, f"{ref} layer {digest[:19]}")
                try:
                    known = layers.summarize(layers.Metered(body, budget), media, budget)
                except BaseException:
                    registry.abandon(resp)  # (a body left half read: never reused)
                    raise
                resp.release_conn()
                if not body.matches():
                    raise layers.CorruptLayer(f"the bytes of layer {digest} do not match it")
                self._layer_to_disk(digest, known)
            with self._lock:
                self.layers.put(key, known)
            yield known

    def _layer_path(self, digest: str) -> Path | None:
        # (only a valid digest ever names a file: 64 hex characters, no separator)
        if self.cache_dir is None or not registry.DIGEST.fullmatch(digest):
            return None
        return self.cache_dir / "layers" / f"{digest[7:]}.json"

    def _layer_from_disk(self, digest: str) -> layers.Summary | None:
        path = self._layer_path(digest)
        if path is None:
            return None
        try:
            return _LAYER_DECODER.decode(path.read_bytes())
        except (OSError, msgspec.DecodeError):
            return None

    def _layer_to_disk(self, digest: str, summary: layers.Summary) -> None:
        path = self._layer_path(digest)
        if path is not None:
            _write_atomically(path, _ENCODER.encode(summary))

    # -- disk --------------------------------------------------------------------------

    def _path(self, key: ImageKey) -> Path | None:
        if self.cache_dir is None:
            return None
        name = hashlib.sha256("/".join(key).encode()).hexdigest()
        return self.cache_dir / f"{name}.json"

    def _from_disk(self, key: ImageKey) -> ImageFacts | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            stored = _STORED_DECODER.decode(path.read_bytes())
            if stored.format != FORMAT:
                return None
            return _DECODER.decode(stored.facts)
        except (OSError, msgspec.DecodeError):
            return None

    def _to_disk(self, key: ImageKey, facts: ImageFacts) -> None:
        path = self._path(key)
        if path is not None:
            _write_atomically(
                path, b'{"format": %d, "facts": %s}' % (FORMAT, _ENCODER.encode(facts))
            )


def _key(ref: reference.Reference, digest: str, os_: str, arch: str) -> ImageKey:
    """An image entry's key: the registry and repository it was read from, with its
    digest and platform (the same digest from another registry is another entry)."""
    return (ref.registry, ref.repository, digest, os_, arch)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write through a temporary file and rename, so a reader never sees half an entry; a
    cache that cannot be written is only slower (errors are dropped)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError:
        pass


def _from_config(config: Any) -> tuple[str | None, str | None]:
    """(Python, ddtrace) from an image config: ``PYTHON_VERSION`` of its environment, and
    the last ``pip install ddtrace==X`` of its history."""
    if not isinstance(config, dict):
        return None, None
    python = None
    cfg = config.get("config")
    env = cfg.get("Env") if isinstance(cfg, dict) else None
    for entry in env if isinstance(env, list) else ():
        if isinstance(entry, str) and entry.startswith("PYTHON_VERSION="):
            value = entry.partition("=")[2].strip()
            python = value or None
    ddtrace = None
    for h in config.get("history") or ():
        created = h.get("created_by") if isinstance(h, dict) else None
        if isinstance(created, str) and "ddtrace" in created and len(created) < 65536:
            found, _ = dockerfile.pip_pins(created)
            if found and found != "unpinned":
                ddtrace = found
    return python, ddtrace


def apply(w: model.WorkloadContainer, facts: ImageFacts) -> model.WorkloadContainer:
    """The workload with what its image says, where no source of higher precedence said
    it (the precedence table)."""
    f = w.facts
    src = f.sources
    ddtrace, ddtrace_src = f.ddtrace, src.ddtrace
    if facts.ddtrace and precedence.outranks("ddtrace", facts.ddtrace_from, ddtrace_src):
        ddtrace, ddtrace_src = facts.ddtrace, facts.ddtrace_from
    python, python_src = f.python, src.python
    if facts.python and precedence.outranks("python", facts.python_from, python_src):
        python, python_src = facts.python, facts.python_from
    frameworks = f.frameworks if f.frameworks is not None else facts.frameworks
    if (ddtrace, python, frameworks) == (f.ddtrace, f.python, f.frameworks):
        return w
    sources = model.FactSources(ddtrace_src, python_src, src.platform)
    new = msgspec.structs.replace(
        f, ddtrace=ddtrace, python=python, frameworks=frameworks, sources=sources
    )
    return msgspec.structs.replace(w, facts=new)


def inspect_many(
    inspector: Inspector,
    keys: list[tuple[str, str, str]],
    workers: int = 4,
    run_deadline: float | None = None,
) -> list[ImageFacts]:
    """Each (image, os, arch) inspected, ``workers`` at a time (a stuck registry holds one
    worker until its image's deadline, never the others), all within ``run_deadline``."""
    from concurrent.futures import ThreadPoolExecutor

    seconds = run_deadline if run_deadline is not None else inspector.run_timeout
    within = registry.Deadline(seconds, stop=inspector.stopping) if seconds is not None else None
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda k: inspector.inspect(k[0], k[1], k[2], within=within), keys))


def image_key(w: model.WorkloadContainer, image: str) -> tuple[str, str, str]:
    """(image, os, arch) as the inspector's caches are keyed for a workload: its one known
    architecture, else amd64; its OS, else linux (what a registry index is asked for)."""
    p = w.facts.platform
    return image, p.os or "linux", p.arch[0] if len(p.arch) == 1 else "amd64"


def inspect_workloads(
    workloads: list[model.WorkloadContainer],
    inspector: Inspector,
    *,
    workers: int = 4,
    run_deadline: float | None = None,
) -> list[model.InputError]:
    """Read the image of every workload into the inspector's caches (each distinct image
    and platform once, a few at a time, all within ``run_deadline`` seconds), so the judge's
    image source finds them; a warning per image that could not be read."""
    wanted = sorted({image_key(w, w.image) for w in workloads if w.image})
    done = inspect_many(inspector, wanted, workers, run_deadline)
    return [
        model.InputError(image, f"image not inspected ({facts.result}): {facts.message}")
        for (image, _, _), facts in zip(wanted, done, strict=True)
        if facts.result not in ("ok", "cached")
    ]
