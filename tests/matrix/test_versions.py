"""ddtrace versions and ranges as intervals."""

from __future__ import annotations

import pytest

from ddcompat.shared import versions

MIN_1_9 = versions.at_least("1.9.0")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("2.6.1", "2.6.1"),
        ("v2.6.1", "2.6.1"),
        ("v1", ">=1,<2"),
        ("v2.6", ">=2.6,<2.7"),
        ("~=1.20", ">=1.20,<2"),
        ("~=1.20.0", ">=1.20.0,<1.21"),
        (">=1.9,<2", ">=1.9,<2"),
        ("==1.20.*", ">=1.20,<1.21"),
        ("<1", "<1"),
        (" 1.9.0 ", "1.9.0"),
    ],
)
def test_parse_range(text: str, shown: str) -> None:
    assert str(versions.parse_range(text)) == shown


@pytest.mark.parametrize("text", ["", "banana", ">=2,<1", "v", "1.9.x"])
def test_bad_ranges_are_errors(text: str) -> None:
    with pytest.raises(versions.VersionSyntaxError):
        versions.parse_range(text)


@pytest.mark.parametrize(
    ("text", "coverage"),
    [
        ("1.9.0", versions.Coverage.ALL),
        ("1.8.9", versions.Coverage.NONE),
        ("v1", versions.Coverage.SOME),  # any 1.x: some below 1.9
        ("~=1.20", versions.Coverage.ALL),
        (">=1.8,<1.9", versions.Coverage.NONE),
        (">1.8.9", versions.Coverage.SOME),  # 1.9.0rc1 > 1.8.9 yet < 1.9.0
        (">=1.9", versions.Coverage.ALL),
    ],
)
def test_range_coverage(text: str, coverage: versions.Coverage) -> None:
    assert versions.coverage(versions.parse_range(text), MIN_1_9) is coverage


def test_python_ranges_expand() -> None:
    got = versions.expand_python_versions(["2.7", "3.5-3.11"])
    assert (2, 7) in got and (3, 5) in got and (3, 11) in got
    assert (3, 12) not in got and (3, 4) not in got and (2, 6) not in got
    assert len(got) == 8


@pytest.mark.parametrize("bad", ["3.11-2.7", "3.x", "2.7-3.1"])
def test_bad_python_ranges(bad: str) -> None:
    with pytest.raises(versions.VersionSyntaxError):
        versions.expand_python_versions([bad])
