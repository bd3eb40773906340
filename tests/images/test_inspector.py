"""The image inspector against a real registry (Debian's docker-registry, TLS, htpasswd)
with images pushed by skopeo (issue 16)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ddcompat.shared.images import inspector, registry
from tests.images.conftest import PASSWORD, SITE, USER, Layer, Registry, dist_info, layout


def client(reg: Registry, password: str = PASSWORD) -> registry.Client:
    return registry.Client(credentials={reg.host: (USER, password)}, ca_file=str(reg.ca_file))


@pytest.fixture(scope="module")
def shop(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Python 3.12 image whose upper layer replaced ddtrace 1.20.14 with 2.21.4 (the old
    dist-info whited out) and added Django; a multi-arch index (arm64: a zstd layer)."""
    d = tmp_path_factory.mktemp("shop")
    base = Layer({"usr/local/lib/python3.12/": b"", **dist_info("ddtrace", "1.20.14")})
    upper = Layer(
        {
            f"{SITE}.wh.ddtrace-1.20.14.dist-info": b"",
            **dist_info("ddtrace", "2.21.4"),
            **dist_info("Django", "4.2.16"),
        }
    )
    arm = Layer(
        {"usr/local/lib/python3.12/": b"", **dist_info("ddtrace", "3.17.2")}, compression="zstd"
    )
    path = layout(
        d / "oci",
        [([base, upper], ["PYTHON_VERSION=3.12.7"], "amd64"), ([arm], [], "arm64")],
        index=True,
    )
    return registry.push(path, "shop/api:2026.11.3-7f3c2a1", all_platforms=True)


def test_layers_top_down_with_whiteouts(registry: Registry, shop: str, tmp_path: Path) -> None:
    facts = inspector.Inspector(client(registry), cache_dir=tmp_path).inspect(shop)
    assert facts.result == "ok", facts.message
    assert (facts.ddtrace, facts.ddtrace_from) == ("2.21.4", "image_layers")
    assert (facts.python, facts.python_from) == ("3.12.7", "image_config")
    assert facts.frameworks == (("django", "4.2.16"),)


def test_the_platform_of_a_multi_arch_index(registry: Registry, shop: str, tmp_path: Path) -> None:
    facts = inspector.Inspector(client(registry), cache_dir=tmp_path).inspect(shop, arch="arm64")
    assert facts.result == "ok", facts.message
    assert (facts.ddtrace, facts.python) == ("3.17.2", "3.12")  # from a zstd layer
    assert facts.python_from == "image_layers"


def test_a_digest_is_inspected_once_ever(registry: Registry, shop: str, tmp_path: Path) -> None:
    first = inspector.Inspector(client(registry), cache_dir=tmp_path)
    assert first.inspect(shop).result == "ok"
    before = registry.requests_logged()
    # a new process (a new inspector) with the same cache folder: one HEAD for the tag
    again = inspector.Inspector(client(registry), cache_dir=tmp_path)
    facts = again.inspect(shop)
    assert facts.result == "cached" and facts.ddtrace == "2.21.4"
    assert registry.requests_logged() - before <= 2  # (a 401, then the HEAD)
    by_digest = f"{shop.rsplit(':', 1)[0]}@{facts.digest}"
    before = again.client.requests
    assert again.inspect(by_digest).result == "cached"
    assert again.client.requests == before  # a digest needs no request at all


@pytest.mark.parametrize(
    ("image", "password", "result"),
    [
        ("shop/api:2026.11.3-7f3c2a1", "wrong", "unauthorized"),
        ("shop/nothing:1", PASSWORD, "not_found"),
        ("shop/api:no-such-tag", PASSWORD, "not_found"),
    ],
)
def test_failures_are_results(
    registry: Registry, shop: str, image: str, password: str, result: str, tmp_path: Path
) -> None:
    facts = inspector.Inspector(client(registry, password), cache_dir=tmp_path).inspect(
        f"{registry.host}/{image}"
    )
    assert facts.result == result, facts.message
    assert facts.ddtrace is None and PASSWORD not in facts.message and "wrong" not in facts.message


def test_an_unreachable_registry_is_a_result(tmp_path: Path) -> None:
    c = registry.Client(timeout=2.0)
    facts = inspector.Inspector(c, cache_dir=tmp_path).inspect("127.0.0.1:9/shop/api:1")
    assert facts.result == "unreachable"


def test_a_byte_cap_stops_a_large_image(
    registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> None:
    d = tmp_path_factory.mktemp("big")
    noise = Layer({"opt/blob.bin": os.urandom(4 << 20), **dist_info("ddtrace", "4.13.1")})
    ref = registry.push(layout(d / "oci", [([noise], [], "amd64")]), "shop/big:1")
    small = inspector.Inspector(client(registry), max_bytes=1 << 20)
    facts = small.inspect(ref)
    assert facts.result == "too_large" and "too large to inspect" in facts.message
    assert facts.bytes_read <= (1 << 20) + (1 << 16)
    assert inspector.Inspector(client(registry)).inspect(ref).ddtrace == "4.13.1"


def test_history_gives_ddtrace_when_layers_do_not(
    registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> None:
    d = tmp_path_factory.mktemp("hist")
    plain = Layer({"usr/local/lib/python3.11/": b"", "app/main.py": b"print()"}, compression="none")
    ref = registry.push(
        layout(
            d / "oci",
            [([plain], [], "amd64")],
            history=["/bin/sh -c pip install --no-cache-dir ddtrace==2.9.3 flask"],
        ),
        "shop/hist:1",
    )
    facts = inspector.Inspector(client(registry)).inspect(ref)
    assert (facts.ddtrace, facts.ddtrace_from) == ("2.9.3", "image_config")
    assert (facts.python, facts.python_from) == ("3.11", "image_layers")


def test_token_auth_as_public_registries_do_it(
    token_registry: Registry, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """The bearer challenge: a 401 names the token service; a token for the scope, with
    the credentials, then the pull."""
    d = tmp_path_factory.mktemp("tok")
    layer = Layer({"usr/local/lib/python3.12/": b"", **dist_info("ddtrace", "3.17.2")})
    ref = token_registry.push(layout(d / "oci", [([layer], [], "amd64")]), "team/svc:1")
    issued = token_registry.tokens_issued()  # type: ignore[attr-defined]
    facts = inspector.Inspector(client(token_registry), cache_dir=tmp_path).inspect(ref)
    assert facts.result == "ok", facts.message
    assert facts.ddtrace == "3.17.2"
    assert token_registry.tokens_issued() == issued + 1  # type: ignore[attr-defined]
    wrong = inspector.Inspector(client(token_registry, "nope")).inspect(ref)
    assert wrong.result == "unauthorized"


def test_a_layer_is_read_once_whatever_image_has_it(
    registry: Registry, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """Two images on one base (as a fleet shares python:3.12): the second reads only its
    own layer; the base's summary comes from the cache (memory, or disk in a new process)."""
    d = tmp_path_factory.mktemp("shared")
    base = Layer({"usr/local/lib/python3.12/": b"", **dist_info("ddtrace", "2.21.4")})
    first = registry.push(
        layout(d / "a", [([base, Layer(dist_info("flask", "3.0.3"))], [], "amd64")]), "fleet/a:1"
    )
    second = registry.push(
        layout(d / "b", [([base, Layer(dist_info("django", "5.1.2"))], [], "amd64")]), "fleet/b:1"
    )

    def blob_gets() -> int:  # answered GETs (a first 401 asks for credentials)
        log = registry.log.read_text(errors="replace").splitlines()
        return sum(1 for line in log if '"GET /v2/fleet/' in line and '" 200 ' in line)

    insp = inspector.Inspector(client(registry), cache_dir=tmp_path)
    a = insp.inspect(first)
    assert (a.ddtrace, a.frameworks) == ("2.21.4", (("flask", "3.0.3"),))
    before = blob_gets()
    b = inspector.Inspector(client(registry), cache_dir=tmp_path).inspect(second)
    assert (b.ddtrace, b.frameworks) == ("2.21.4", (("django", "5.1.2"),))
    # the manifest, the config and the top layer: the shared base was not read again
    assert blob_gets() - before == 3


class Garbage(Layer):
    """A layer that says it is a gzip tar and is not (a truncated upload, a broken mirror)."""

    def blob(self) -> tuple[bytes, str, str]:
        data = b"\x1f\x8b\x08\x00" + os.urandom(2048)
        return data, "application/vnd.oci.image.layer.v1.tar+gzip", "sha256:" + "0" * 64


def test_a_corrupt_layer_is_a_result(
    registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> None:
    d = tmp_path_factory.mktemp("corrupt")
    ref = registry.push(layout(d / "oci", [([Garbage()], [], "amd64")]), "shop/corrupt:1")
    facts = inspector.Inspector(client(registry)).inspect(ref)
    assert facts.result == "corrupt" and "a layer cannot be read" in facts.message
