"""A hostile registry can neither lie to the inspector, take its credentials, nor stop it
(issue 23.1-3): each case against the scripted registry of tests/images/hostile.py (and
the real docker-registry where a victim image is needed)."""

from __future__ import annotations

import gzip
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ddcompat.shared.images import inspector, layers
from ddcompat.shared.images import registry as registry_mod
from tests.images.conftest import PASSWORD, USER, Layer, Registry, dist_info, layout
from tests.images.hostile import (
    GZIP_LAYER,
    MANIFEST_TYPE,
    ZSTD_LAYER,
    Handler,
    HostileRegistry,
    answer,
    ddtrace_layer,
    image,
    tar_of,
)
from tests.tools import peak_memory, webhook_memory_limit
from tests.webhook.conftest import PYTHON_APP, pod

REPO = "team/api"


def client(certs: Any, **kw: Any) -> registry_mod.Client:
    return registry_mod.Client(
        credentials={kw.pop("host"): (USER, PASSWORD)} if "host" in kw else None,
        ca_file=str(certs.ca_file),
        **kw,
    )


def make(certs: Any, tmp_path: Path, **kw: Any) -> inspector.Inspector:
    host = kw.pop("host", None)
    timeout = kw.pop("timeout", 10.0)
    c = client(certs, timeout=timeout, **({"host": host} if host else {}))
    return inspector.Inspector(c, cache_dir=tmp_path / "cache", **kw)


# -- content is verified ------------------------------------------------------------------


def test_a_pinned_manifest_whose_bytes_are_not_its_digest_is_corrupt(
    hostile: HostileRegistry, hostile_certs: Any, tmp_path: Path
) -> None:
    honest, forged = image([ddtrace_layer("3.17.2")]), image([ddtrace_layer("1.0.0")])
    # the registry answers the honest digest with another manifest's bytes
    hostile.routes[f"/v2/{REPO}/manifests/{honest.digest}"] = lambda h: h.send(
        200, forged.manifest, {"Content-Type": MANIFEST_TYPE}
    )
    for d, b in forged.blobs.items():
        hostile.routes[f"/v2/{REPO}/blobs/{d}"] = answer(b)
    facts = make(hostile_certs, tmp_path).inspect(f"{hostile.host}/{REPO}@{honest.digest}")
    assert facts.result == "corrupt" and facts.ddtrace is None


def test_a_header_that_claims_another_digest_is_corrupt(
    hostile: HostileRegistry, hostile_certs: Any, tmp_path: Path
) -> None:
    real, forged = image([ddtrace_layer("3.17.2")]), image([ddtrace_layer("1.0.0")])
    hostile.serve_image(REPO, forged)
    hostile.routes[f"/v2/{REPO}/manifests/latest"] = lambda h: h.send(
        200, forged.manifest, {"Content-Type": MANIFEST_TYPE, "Docker-Content-Digest": real.digest}
    )
    facts = make(hostile_certs, tmp_path).inspect(f"{hostile.host}/{REPO}:latest")
    assert facts.result == "corrupt", facts


@pytest.mark.parametrize("what", ["config", "layer"])
def test_a_blob_whose_bytes_are_not_its_digest_is_corrupt(
    hostile: HostileRegistry, hostile_certs: Any, tmp_path: Path, what: str
) -> None:
    img = image([ddtrace_layer("3.17.2")])
    hostile.serve_image(REPO, img)
    target = img.config_digest if what == "config" else img.layer_digests[0]
    other = (
        b'{"config": {"Env": ["PYTHON_VERSION=2.7"]}}'
        if what == "config"
        else ddtrace_layer("1.0.0")
    )
    hostile.routes[f"/v2/{REPO}/blobs/{target}"] = lambda h: h.send(200, other)
    ins = make(hostile_certs, tmp_path)
    facts = ins.inspect(f"{hostile.host}/{REPO}@{img.digest}")
    assert facts.result == "corrupt" and facts.ddtrace is None, facts
    # and nothing of it was kept: the next look is a new inspection
    assert ins.lookup(f"{hostile.host}/{REPO}@{img.digest}") is None
    assert not list((tmp_path / "cache").rglob("*.json"))


def test_another_registry_claiming_a_victims_digest_never_answers_for_it(
    registry: Registry,
    hostile: HostileRegistry,
    hostile_certs: Any,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    d = tmp_path_factory.mktemp("victim")
    lay = Layer({"usr/local/lib/python3.12/": b"", **dist_info("ddtrace", "3.17.2")})
    ref = registry.push(layout(d / "oci", [([lay], [], "amd64")]), "victim/api:1")
    creds = {registry.host: (USER, PASSWORD)}
    victim_client = registry_mod.Client(credentials=creds, ca_file=str(registry.ca_file))
    cache = tmp_path / "cache"
    victim = inspector.Inspector(victim_client, cache_dir=cache).inspect(ref)
    assert victim.result == "ok" and victim.digest
    # the hostile registry claims the victim's digest for an image of its own
    forged = image([ddtrace_layer("1.0.0")])
    hostile.serve_image(REPO, forged)
    hostile.routes[f"/v2/{REPO}/manifests/{victim.digest}"] = lambda h: h.send(
        200, forged.manifest, {"Content-Type": MANIFEST_TYPE}
    )
    other = inspector.Inspector(client(hostile_certs), cache_dir=cache)
    claim = other.inspect(f"{hostile.host}/{REPO}@{victim.digest}")
    # not the victim's cached facts: its own registry was asked, and its bytes lied
    assert claim.result == "corrupt" and claim.ddtrace is None
    assert any(victim.digest in s.path for s in hostile.seen)
    # and the victim's image is still judged from its own registry's bytes
    again = inspector.Inspector(victim_client, cache_dir=cache).inspect(ref)
    assert again.result == "cached" and again.ddtrace == "3.17.2"


def test_a_layer_digest_with_a_path_in_it_writes_nothing_anywhere(
    hostile: HostileRegistry, hostile_certs: Any, tmp_path: Path
) -> None:
    evil = "sha256:../../../../escaped"
    img = image(raw_layers=[(evil, GZIP_LAYER)])
    hostile.serve_image(REPO, img)
    hostile.routes["*"] = lambda h: h.send(200, ddtrace_layer())
    facts = make(hostile_certs, tmp_path).inspect(f"{hostile.host}/{REPO}@{img.digest}")
    assert facts.result == "bad_manifest", facts
    assert not any("escaped" in s.path or ".." in s.path for s in hostile.seen)
    assert not list(tmp_path.rglob("*escaped*"))


# -- credentials go only where they belong ------------------------------------------------


def _challenge(realm: str) -> Callable[[Handler], None]:
    def route(h: Handler) -> None:
        if h.headers.get("Authorization", "").startswith("Bearer "):
            h.send(404, b"{}")
            return
        h.send(
            401,
            b"{}",
            {"WWW-Authenticate": f'Bearer realm="{realm}",service="reg",scope="x"'},
        )

    return route


@pytest.mark.parametrize("tls", [False, True], ids=["plain-http", "https"])
def test_a_token_realm_on_another_site_never_receives_the_password(
    hostile: HostileRegistry,
    hostile_certs: Any,
    elsewhere: Callable[..., HostileRegistry],
    tmp_path: Path,
    tls: bool,
) -> None:
    collector = elsewhere(tls=tls)
    collector.routes["/token"] = lambda h: h.send(200, b'{"token": "anonymous"}')
    hostile.routes["*"] = _challenge(f"{collector.url}/token")
    ins = make(hostile_certs, tmp_path, host=hostile.host)
    facts = ins.inspect(f"{hostile.host}/{REPO}:latest")
    assert facts.result in ("not_found", "unauthorized"), facts
    assert [s.path.split("?")[0] for s in collector.seen] == ["/token"]  # asked, anonymously
    assert collector.authorization_seen() == []
    assert PASSWORD not in json.dumps([s.headers for s in collector.seen])


def test_a_plain_http_realm_on_the_same_host_never_receives_the_password(
    hostile: HostileRegistry, hostile_certs: Any, tmp_path: Path
) -> None:
    from tests.images import hostile as hostile_mod

    plain = hostile_mod.start("127.0.0.1", None)  # same host, another port, no TLS
    try:
        plain.routes["/token"] = lambda h: h.send(401, b"{}")
        hostile.routes["*"] = _challenge(f"{plain.url}/token")
        facts = make(hostile_certs, tmp_path, host=hostile.host).inspect(
            f"{hostile.host}/{REPO}:latest"
        )
    finally:
        plain.close()
    assert facts.result == "unauthorized" and "withheld" in facts.message
    assert plain.authorization_seen() == []


def test_a_redirect_to_blob_storage_goes_without_the_registrys_authorization(
    hostile: HostileRegistry,
    hostile_certs: Any,
    elsewhere: Callable[..., HostileRegistry],
    tmp_path: Path,
) -> None:
    storage = elsewhere(tls=True)
    img = image([ddtrace_layer("3.17.2")])
    hostile.serve_image(REPO, img)
    for d, blob in img.blobs.items():
        storage.routes[f"/store/{d[7:]}"] = answer(blob)
        hostile.routes[f"/v2/{REPO}/blobs/{d}"] = answer(
            b"", {"Location": f"{storage.url}/store/{d[7:]}?sig=abc"}, 307
        )
    # the registry wants basic auth for everything
    routes = dict(hostile.routes)

    def basic(h: Handler) -> None:
        if not h.headers.get("Authorization", "").startswith("Basic "):
            h.send(401, b"{}", {"WWW-Authenticate": 'Basic realm="r"'})
            return
        route = routes.get(h.path.split("?")[0])
        if route is None:
            h.send(404, b"{}")
        else:
            route(h)

    hostile.routes = {"*": basic}
    facts = make(hostile_certs, tmp_path, host=hostile.host).inspect(
        f"{hostile.host}/{REPO}@{img.digest}"
    )
    assert facts.result == "ok" and facts.ddtrace == "3.17.2", facts
    assert len(storage.seen) == 2  # the config and the layer, from storage
    assert storage.authorization_seen() == []
    assert hostile.authorization_seen()  # (the registry itself did get them)


def test_a_redirect_from_https_down_to_plain_http_is_refused(
    hostile: HostileRegistry,
    hostile_certs: Any,
    elsewhere: Callable[..., HostileRegistry],
    tmp_path: Path,
) -> None:
    plain = elsewhere(tls=False)
    img = image([ddtrace_layer()])
    hostile.serve_image(REPO, img)
    hostile.routes[f"/v2/{REPO}/blobs/{img.config_digest}"] = lambda h: h.send(
        302, b"", {"Location": f"{plain.url}/cfg"}
    )
    facts = make(hostile_certs, tmp_path).inspect(f"{hostile.host}/{REPO}@{img.digest}")
    assert facts.result == "error" and "redirect" in facts.message
    assert plain.seen == []


# -- every read is bounded ----------------------------------------------------------------


def _zeros() -> Iterator[bytes]:
    block = b"\0" * (1 << 20)
    while True:
        yield block


@pytest.mark.parametrize("where", ["manifest", "token"])
def test_an_endless_body_is_cut_at_its_cap_in_bounded_memory(
    hostile: HostileRegistry, hostile_certs: Any, tmp_path: Path, where: str
) -> None:
    if where == "manifest":
        hostile.routes["*"] = lambda h: h.stream(_zeros(), {"Content-Type": MANIFEST_TYPE})
    else:
        hostile.routes["/token"] = lambda h: h.stream(_zeros())
        hostile.routes["*"] = _challenge(f"{hostile.url}/token")
    ins = make(hostile_certs, tmp_path)
    facts, peak = peak_memory(lambda: ins.inspect(f"{hostile.host}/{REPO}:latest"))
    assert facts.result in ("bad_manifest", "unauthorized"), facts
    assert "larger than" in facts.message
    assert peak < 24 << 20, f"peak {peak >> 20} MiB"


def _bomb(kind: str, size: int) -> bytes:
    """A layer whose one file is ``size`` zero bytes, compressed (a few hundred KB)."""
    head = tarfile_header("bomb", size)
    if kind == "gzip":
        import zlib

        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        out = [c.compress(head)]
        block = b"\0" * (1 << 20)
        for _ in range(size >> 20):
            out.append(c.compress(block))
        out.append(c.flush())
        return b"".join(out)
    import zstandard

    cctx = zstandard.ZstdCompressor(level=3)
    chunker = cctx.chunker(chunk_size=1 << 20)
    parts = list(chunker.compress(head))
    block = b"\0" * (1 << 20)
    for _ in range(size >> 20):
        parts.extend(chunker.compress(block))
    parts.extend(chunker.finish())  # type: ignore[no-untyped-call]
    return b"".join(parts)


def tarfile_header(name: str, size: int) -> bytes:
    import tarfile

    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.GNU_FORMAT)


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_a_decompression_bomb_stops_at_the_unpacked_budget(
    hostile: HostileRegistry, hostile_certs: Any, tmp_path: Path, kind: str
) -> None:
    blob = _bomb(kind, 256 << 20)  # 256 MiB of zeros
    assert len(blob) < 2 << 20
    img = image([blob], env=(), media=GZIP_LAYER if kind == "gzip" else ZSTD_LAYER)
    hostile.serve_image(REPO, img)
    ins = make(hostile_certs, tmp_path, max_unpacked=32 << 20)
    started = time.monotonic()
    facts, peak = peak_memory(lambda: ins.inspect(f"{hostile.host}/{REPO}@{img.digest}"))
    assert facts.result == "too_large" and "decompressed" in facts.message, facts
    assert time.monotonic() - started < 20
    assert peak < 32 << 20, f"peak {peak >> 20} MiB"


def test_a_layer_of_many_empty_files_is_walked_in_linear_time() -> None:
    files = {f"f{i}": b"" for i in range(40_000)}
    blob = gzip.compress(tar_of(files), mtime=0)
    assert len(blob) < 400 << 10
    started = time.monotonic()
    summary = layers.summarize(io_bytes(blob), GZIP_LAYER)
    took = time.monotonic() - started
    assert summary == layers.Summary()
    assert took < 10, f"{took:.1f} s for 40,000 entries"  # (54 s when it was quadratic)


def io_bytes(data: bytes) -> Any:
    return io.BytesIO(data)


def test_a_registry_that_drips_a_byte_at_a_time_meets_the_deadline(
    hostile: HostileRegistry, hostile_certs: Any, tmp_path: Path
) -> None:
    def drip(h: Handler) -> None:
        h.stream(iter([b"{"] + [b" "] * 1000), {"Content-Type": MANIFEST_TYPE}, delay=0.2)

    hostile.routes["*"] = drip
    ins = make(hostile_certs, tmp_path, deadline=2.0, timeout=5.0)
    started = time.monotonic()
    facts = ins.inspect(f"{hostile.host}/{REPO}:latest")
    assert facts.result == "timeout", facts
    assert time.monotonic() - started < 6


def test_a_registry_that_never_answers_is_a_timeout(
    hostile: HostileRegistry, hostile_certs: Any, tmp_path: Path
) -> None:
    release = threading.Event()
    hostile.routes["*"] = lambda h: release.wait(30)
    ins = make(hostile_certs, tmp_path, deadline=30.0, timeout=1.0)
    started = time.monotonic()
    try:
        facts = ins.inspect(f"{hostile.host}/{REPO}:latest")
    finally:
        release.set()
    assert facts.result in ("unreachable", "timeout"), facts
    assert time.monotonic() - started < 5


def test_a_stopping_front_end_ends_inspections_under_way(
    hostile: HostileRegistry, hostile_certs: Any, tmp_path: Path
) -> None:
    hostile.routes["*"] = lambda h: h.stream(iter([b" "] * 1000), delay=0.2)
    ins = make(hostile_certs, tmp_path, deadline=120.0, timeout=5.0)
    got: list[inspector.ImageFacts] = []
    t = threading.Thread(target=lambda: got.append(ins.inspect(f"{hostile.host}/{REPO}:x")))
    t.start()
    time.sleep(0.5)
    started = time.monotonic()
    ins.close()
    t.join(10)
    assert not t.is_alive() and time.monotonic() - started < 3
    assert got[0].result == "timeout" and "stopped" in got[0].message


# -- bad JSON of any shape is a result, never a traceback ---------------------------------


def _manifest_route(body: bytes, headers: dict[str, str] | None = None) -> Callable[..., None]:
    return lambda h: h.send(200, body, {"Content-Type": MANIFEST_TYPE, **(headers or {})})


@pytest.mark.parametrize(
    ("body", "result"),
    [
        (b"[" * 10_000 + b"]" * 10_000, "bad_manifest"),  # 10k deep
        (
            json.dumps(
                {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": "x", "layers": []}
            ).encode(),
            "bad_manifest",
        ),
        (
            json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "layers": "x"}).encode(),
            "bad_manifest",
        ),
        (
            json.dumps(
                {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": {"digest": 7}}
            ).encode(),
            "bad_manifest",
        ),
        (b"\xff\xfe not json", "bad_manifest"),
        (
            json.dumps(
                {
                    "manifests": [
                        {
                            "platform": {"os": "linux", "architecture": "amd64"},
                            "digest": "sha256:xyz",
                        }
                    ]
                }
            ).encode(),
            "bad_manifest",
        ),
    ],
    ids=["deep", "config-string", "layers-string", "digest-number", "not-utf8", "index-digest"],
)
def test_bad_manifests_are_results(
    hostile: HostileRegistry, hostile_certs: Any, tmp_path: Path, body: bytes, result: str
) -> None:
    hostile.routes["*"] = _manifest_route(body)
    facts = make(hostile_certs, tmp_path).inspect(f"{hostile.host}/{REPO}:latest")
    assert facts.result == result, facts


def test_retry_after_nan_is_waited_as_one_second(
    hostile: HostileRegistry, hostile_certs: Any, tmp_path: Path
) -> None:
    img = image([ddtrace_layer("3.17.2")])
    hostile.serve_image(REPO, img)
    calls = {"n": 0}
    honest = hostile.routes[f"/v2/{REPO}/manifests/latest"]

    def limited(h: Handler) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            h.send(429, b"{}", {"Retry-After": "nan"})
        else:
            honest(h)

    hostile.routes[f"/v2/{REPO}/manifests/latest"] = limited
    facts = make(hostile_certs, tmp_path).inspect(f"{hostile.host}/{REPO}:latest")
    assert facts.result == "ok" and facts.ddtrace == "3.17.2", facts


def test_non_utf8_names_in_a_layer_are_read_and_cached(
    hostile: HostileRegistry, hostile_certs: Any, tmp_path: Path
) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tar:
        for name in (
            "caf\xe9/\xff\xfe",
            "usr/local/lib/python3.12/site-packages/ddtrace-3.17.2.dist-info/METADATA",
        ):
            info = tarfile.TarInfo(name)
            tar.addfile(info, io.BytesIO(b""))
    img = image([gzip.compress(buf.getvalue(), mtime=0)])
    hostile.serve_image(REPO, img)
    ins = make(hostile_certs, tmp_path)
    facts = ins.inspect(f"{hostile.host}/{REPO}@{img.digest}")
    assert facts.result == "ok" and facts.ddtrace == "3.17.2", facts
    assert list((tmp_path / "cache").rglob("*.json"))  # its summary was written


def test_check_meets_its_run_deadline_with_a_stuck_registry(
    hostile: HostileRegistry,
    hostile_certs: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ddcompat.shared import cli

    hostile.routes["*"] = lambda h: h.stream(iter([b" "] * 10_000), delay=0.2)
    containers = [
        dict(PYTHON_APP, name=f"c{i}", image=f"{hostile.host}/{REPO}:v{i}") for i in range(6)
    ]
    (tmp_path / "pod.json").write_text(json.dumps(pod(containers=containers)))
    monkeypatch.setenv("DDCOMPAT_CACHE_DIR", str(tmp_path / "cache"))
    started = time.monotonic()
    cli.main(
        [
            "check",
            str(tmp_path / "pod.json"),
            "--inspect-images",
            "--registry-ca",
            str(hostile_certs.ca_file),
            "--inspect-run-timeout",
            "2",
            "--format",
            "json",
        ]
    )
    took = time.monotonic() - started
    _, err = capsys.readouterr()
    assert took < 8, f"{took:.1f} s"
    assert err.count("image not inspected (timeout)") == 6


def test_check_reads_a_bomb_within_the_webhooks_memory_limit(
    hostile: HostileRegistry, hostile_certs: Any, tmp_path: Path
) -> None:
    """The whole process, not just Python's allocations: `ddcompat check --inspect-images`
    on an image whose layers are a gzip bomb and whose manifest list is endless stays under
    the chart's smallest memory limit (the webhook's), measured as the child's peak RSS."""
    import os
    import subprocess
    import sys

    limit, limit_mib = webhook_memory_limit()
    bomb = image([_bomb("gzip", 512 << 20)], env=())
    hostile.serve_image(REPO, bomb, tag="bomb")
    hostile.routes[f"/v2/{REPO}/manifests/endless"] = lambda h: h.stream(
        _zeros(), {"Content-Type": MANIFEST_TYPE}
    )
    containers = [
        dict(PYTHON_APP, name=name, image=f"{hostile.host}/{REPO}:{name}")
        for name in ("bomb", "endless")
    ]
    (tmp_path / "pod.json").write_text(json.dumps(pod(containers=containers)))
    # (the child reports its own peak RSS, VmHWM in KiB, as its last line on stderr:
    # getrusage would count the pytest process it was forked from)
    runner = (
        "import sys; from ddcompat.shared.cli import main; rc = main(sys.argv[1:]); "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]; "
        "print(hwm.split()[1], file=sys.stderr); sys.exit(rc)"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            runner,
            "check",
            str(tmp_path / "pod.json"),
            "--inspect-images",
            "--registry-ca",
            str(hostile_certs.ca_file),
            "--inspect-max-unpacked",
            str(256 << 20),
            "--format",
            "json",
        ],
        capture_output=True,
        timeout=120,
        env={**os.environ, "DDCOMPAT_CACHE_DIR": str(tmp_path / "cache")},
    )
    err = done.stderr
    peak_mib = int(err.strip().splitlines()[-1]) / 1024
    assert b"image not inspected (too_large)" in err, err[-500:]
    assert b"image not inspected (bad_manifest)" in err, err[-500:]
    assert json.loads(done.stdout)["workloads"]
    print(f"check on a 512 MiB gzip bomb and an endless manifest: peak RSS {peak_mib:.0f} MiB")
    assert peak_mib < limit_mib, f"peak RSS {peak_mib:.0f} MiB, limit {limit}"


@pytest.mark.parametrize(
    ("status", "headers", "result"),
    [
        (500, {}, "error"),
        (401, {"WWW-Authenticate": 'Basic realm="r"'}, "unauthorized"),
        (429, {"Retry-After": "0"}, "rate_limited"),
        (307, {"Location": "/v2/elsewhere"}, "not_found"),
    ],
    ids=["error", "challenge", "rate-limited", "redirect"],
)
def test_an_endless_body_on_an_answer_nobody_reads_is_never_read(
    hostile: HostileRegistry,
    hostile_certs: Any,
    tmp_path: Path,
    status: int,
    headers: dict[str, str],
    result: str,
) -> None:
    """The bodies of errors, challenges, rate limits and redirects are not read (the
    connection is closed), however long they are."""
    hostile.routes[f"/v2/{REPO}/manifests/latest"] = lambda h: h.stream(
        _zeros(), headers, status=status
    )
    started = time.monotonic()
    facts = make(hostile_certs, tmp_path).inspect(f"{hostile.host}/{REPO}:latest")
    assert facts.result == result, facts
    assert time.monotonic() - started < 10
