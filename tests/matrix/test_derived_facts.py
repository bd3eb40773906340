"""`make facts`: the shipped release data is exactly what the recorded PyPI snapshot
derives, and each derivation decision (sdist-only, yanked, Requires-Python, free-threaded)
holds on the real files. Offline: the snapshot under tests/matrix/pypi is PyPI's simple
index for ddtrace and datadog-lambda as read on the day it names (trimmed to what the
generator uses)."""

from __future__ import annotations

import datetime
import json
import shutil
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

import pytest
from packaging.version import Version

from ddcompat.shared import evaluator, model
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared.derive import __main__ as derive_main
from ddcompat.shared.derive import pypi, wheels

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = ROOT / "tests" / "matrix" / "pypi"
CURRENT = matrix_mod.load(edition="current")


def _releases() -> dict[str, wheels.Release]:
    snap = pypi.load(SNAPSHOT, "ddtrace")
    return {str(r.version): r for r in wheels.releases(snap["files"])}


RELEASES = _releases()


def test_regenerating_from_the_snapshot_gives_the_shipped_files_byte_for_byte() -> None:
    out = derive_main.outputs(ROOT)
    assert set(out) == {
        ROOT / derive_main.RELEASES,
        ROOT / derive_main.LAYERS,
        ROOT / derive_main.RUNTIMES,
    }
    for path, text in out.items():
        assert path.read_text(encoding="utf-8") == text, f"{path} drifted: run `make facts`"


def test_the_check_command_says_when_a_shipped_file_drifted(tmp_path: Path) -> None:
    for rel in (derive_main.SNAPSHOT, Path("shared/data"), Path("shared/matrix/current")):
        shutil.copytree(ROOT / rel, tmp_path / rel)
    assert derive_main.main(["--root", str(tmp_path), "--check"]) == 0
    runtimes = tmp_path / derive_main.RUNTIMES
    runtimes.write_text(runtimes.read_text().replace("3.9-3.14", "3.9-3.15"), encoding="utf-8")
    assert derive_main.main(["--root", str(tmp_path), "--check"]) == 1
    assert derive_main.main(["--root", str(tmp_path)]) == 0  # rewrites it
    assert runtimes.read_text(encoding="utf-8") == (ROOT / derive_main.RUNTIMES).read_text()


def test_the_snapshot_is_dated_and_holds_only_final_releases() -> None:
    for project in ("ddtrace", "datadog-lambda"):
        snap = pypi.load(SNAPSHOT, project)
        datetime.date.fromisoformat(snap["read"])
        assert snap["files"]
        for f in snap["files"]:
            v = pypi.version_of(f["filename"])
            assert v is not None and pypi.is_final(v)
            assert set(f) == {"filename", "requires_python", "upload_time", "yanked"}
    assert CURRENT.known is not None and CURRENT.known.read == snap["read"]


# facts from ../shared/facts/UPDATE-2026-12.md, each checked against the derived rows
def _supported(ddtrace: str, python: str, os: str = "linux", arch: str = "amd64") -> bool:
    facts = model.Facts(
        "kubernetes", ddtrace, python, model.Platform(os, (arch,)), frozenset({"sca"})
    )
    w = model.WorkloadContainer("f", "Deployment", "ns", "a", "a", facts)
    r = evaluator.evaluate(w, CURRENT, as_of=datetime.date(2026, 12, 8))
    return r.features["sca"].status == "supported"


@pytest.mark.parametrize(
    ("ddtrace", "python", "os", "arch", "supported", "fact"),
    [
        ("2.18.2", "3.13", "linux", "amd64", False, "2.18.2 is cp37-cp312"),
        ("2.19.0", "3.13", "linux", "amd64", True, "Python 3.13 starts at 2.19.0"),
        ("2.7.0", "3.13", "linux", "amd64", False, "the old hand-typed row said 2.7"),
        ("3.14.0", "3.12", "windows", "arm64", False, "no win_arm64 before 3.15.0"),
        ("3.15.0", "3.12", "windows", "arm64", True, "win_arm64 cp39-cp313 from 3.15.0"),
        ("3.15.0", "3.14", "windows", "arm64", False, "3.15.0 win_arm64 stops at cp313"),
        ("3.16.0", "3.10", "windows", "arm64", False, "cp311-cp314 from 3.16.0"),
        ("4.16.0", "3.14", "linux", "arm64", True, "4.16.0 cp39-cp314 aarch64"),
        ("4.16.0", "3.12", "linux", "386", False, "no i686 since 4.0.0"),
        ("4.16.0", "3.14", "darwin", "arm64", True, "macosx_14_0 arm64"),
        ("4.16.0", "3.12", "windows", "386", True, "win32 cp39-cp314"),
        ("4.16.0", "3.15", "linux", "amd64", False, "no cp315"),
        ("4.14.0", "3.15", "linux", "amd64", False, "cp315 published, but <3.15"),
        ("3.19.9", "3.8", "linux", "amd64", True, "3.19.9 (after the 3.x EOL) on PyPI"),
    ],
)
def test_runtime_rows_follow_the_wheels(
    ddtrace: str, python: str, os: str, arch: str, supported: bool, fact: str
) -> None:
    assert _supported(ddtrace, python, os, arch) is supported, fact


def test_a_cp315_wheel_that_requires_python_forbids_does_not_count() -> None:
    snap = pypi.load(SNAPSHOT, "ddtrace")
    cp315 = [f for f in snap["files"] if "-cp315-" in f["filename"]]
    assert cp315, "the snapshot holds the cp315 wheels of 4.11-4.14"
    assert {str(pypi.version_of(f["filename"]))[:4] for f in cp315} <= {
        "4.11",
        "4.12",
        "4.13",
        "4.14",
    }
    assert all(f["requires_python"] == "<3.15,>=3.9" for f in cp315)
    assert not any(py == (3, 15) for _, _, py in RELEASES["4.14.0"].supported)


def test_a_release_without_a_wheel_has_no_runtime_row() -> None:
    assert RELEASES["0.27.1"].wheels == 0 and not RELEASES["0.27.1"].supported
    facts = model.Facts(
        "kubernetes", "0.27.1", "3.7", model.Platform("linux", ("amd64",)), frozenset({"sca"})
    )
    w = model.WorkloadContainer("f", "Deployment", "ns", "a", "a", facts)
    r = evaluator.evaluate(w, CURRENT, as_of=datetime.date(2026, 12, 8))
    assert "MATRIX_NOT_COVERED" in {x.code for x in r.features["sca"].reasons}


def test_a_yanked_release_counts_for_runtimes_but_is_never_latest() -> None:
    assert RELEASES["3.12.1"].yanked == "yes"
    assert RELEASES["3.12.1"].supported  # an exact pin still installs it
    assert _supported("3.12.1", "3.12")
    rels = list(RELEASES.values())
    rels_with_newest_yanked = [*rels, rels[-1]._replace(version=Version("4.99.0"), yanked="yes")]
    assert wheels.newest_per_line(rels_with_newest_yanked)["4"] == "4.16.0"


def _file(name: str, requires: str | None = "<3.15,>=3.9") -> pypi.SnapshotFile:
    return pypi.SnapshotFile(
        filename=name, requires_python=requires, upload_time="2026-12-01T00:00:00Z", yanked=False
    )


@pytest.mark.parametrize(
    ("filename", "words"),
    [
        ("ddtrace-9.0.0-cp314-cp314t-manylinux_2_17_x86_64.whl", "free-threaded"),
        ("ddtrace-9.0.0-cp39-abi3-manylinux_2_17_x86_64.whl", "not a version-specific"),
        ("ddtrace-9.0.0-py3-none-any.whl", "only CPython wheels"),
        ("ddtrace-9.0.0-cp312-cp312-manylinux_2_17_riscv64.whl", "no name for"),
        ("ddtrace-9.0.0-cp312-cp312-freebsd_14_0_amd64.whl", "not a platform"),
    ],
)
def test_a_wheel_the_matrix_cannot_express_stops_the_derivation_naming_it(
    filename: str, words: str
) -> None:
    with pytest.raises(wheels.DeriveError, match=words) as err:
        wheels.releases([_file(filename)])
    assert str(err.value).startswith(f"{filename}: ")


def test_python_ranges_are_written_as_runs() -> None:
    assert wheels.python_ranges({(2, 7), (3, 7), (3, 8), (3, 9), (3, 11)}) == [
        "2.7",
        "3.7-3.9",
        "3.11",
    ]


# --- refreshing: the client against a local index serving the standard API ------------


def _wheel_with(metadata: str) -> bytes:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("datadog_lambda/__init__.py", "")
        zf.writestr("datadog_lambda-8.131.0.dist-info/METADATA", metadata)
    return buf.getvalue()


@pytest.fixture
def local_index() -> Iterator[tuple[str, list[str]]]:
    wheel = _wheel_with(
        "Metadata-Version: 2.1\nName: datadog-lambda\nVersion: 8.131.0\n"
        "Requires-Python: >=3.8.0,<3.15\n"
        'Requires-Dist: ddtrace (>=4.1.1,<5,!=4.6.*) ; python_version >= "3.10"\n'
        "Requires-Dist: urllib3 (<3)\n"
    )
    pages = {
        "/simple/datadog-lambda/": json.dumps(
            {
                "meta": {"api-version": "1.1"},
                "name": "datadog-lambda",
                "files": [
                    {
                        "filename": "datadog_lambda-8.131.0-py3-none-any.whl",
                        "url": "../../files/datadog_lambda-8.131.0-py3-none-any.whl",
                        "requires-python": ">=3.8.0,<3.15",
                        "upload-time": "2026-12-07T10:00:00.000000Z",
                        "yanked": False,
                        "hashes": {},
                    },
                    {
                        "filename": "datadog_lambda-8.131.0rc1.tar.gz",
                        "url": "../../files/rc.tar.gz",
                        "upload-time": "2026-12-01T10:00:00.000000Z",
                        "hashes": {},
                    },
                ],
            }
        ).encode(),
        "/files/datadog_lambda-8.131.0-py3-none-any.whl": wheel,
    }
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(f"{self.path} {self.headers.get('Accept')}")
            body = pages.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_refresh_reads_the_json_index_and_each_wheels_metadata(
    local_index: tuple[str, list[str]], tmp_path: Path
) -> None:
    index, seen = local_index
    snap = pypi.refresh(tmp_path, "datadog-lambda", metadata_of="ddtrace", index=index)
    assert seen[0] == "/simple/datadog-lambda/ application/vnd.pypi.simple.v1+json"
    assert [f["filename"] for f in snap["files"]] == ["datadog_lambda-8.131.0-py3-none-any.whl"]
    assert snap["metadata"] == {
        "datadog_lambda-8.131.0-py3-none-any.whl": {
            "Requires-Python": [">=3.8.0,<3.15"],
            "Requires-Dist": ['ddtrace (>=4.1.1,<5,!=4.6.*) ; python_version >= "3.10"'],
        }
    }
    assert snap["read"] == datetime.datetime.now(datetime.UTC).date().isoformat()
    first = pypi.snapshot_path(tmp_path, "datadog-lambda").read_bytes()
    seen.clear()
    pypi.refresh(tmp_path, "datadog-lambda", metadata_of="ddtrace", index=index)
    assert len(seen) == 1  # a file on PyPI never changes: its METADATA is not read again
    assert pypi.snapshot_path(tmp_path, "datadog-lambda").read_bytes() == first  # same bytes


def test_an_index_that_is_not_the_json_api_is_a_clear_error(
    local_index: tuple[str, list[str]], tmp_path: Path
) -> None:
    with pytest.raises(pypi.IndexError_, match=r"404|not the JSON"):
        pypi.refresh(tmp_path, "ddtrace", index=local_index[0])
    with pytest.raises(pypi.IndexError_, match="non-HTTPS"):
        pypi.read_project("ddtrace", "http://pypi.example/simple/")
