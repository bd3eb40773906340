"""docs/contract.md says what the code does: every reason code, `ddcompat.io/` key and
environment switch it names exists in the code with the severity, effect and feature it
gives, and every one in the code is named there."""

from __future__ import annotations

import json
import re
import typing
from importlib import resources

from ddcompat.shared import codes, model, settings, signals
from ddcompat.shared import matrix as matrix_mod
from ddcompat.shared.cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from tests.tools import ROOT

DOC = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")


def _rows(first_cell: str) -> list[list[str]]:
    """Table rows whose first cell matches ``first_cell`` (cells stripped of backticks)."""
    out = []
    for line in DOC.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        if re.fullmatch(first_cell, cells[0]):
            out.append(cells)
    return out


def test_every_reason_code_with_its_severity_effect_and_help() -> None:
    rows = _rows(r"(?!_?DD_)[A-Z][A-Z0-9_]+")
    assert [r[0] for r in rows] == list(codes.CODES)
    for code, severity, effect, meaning in rows:
        row = codes.BY_CODE[code]
        assert (severity, effect, meaning) == (row.severity, row.effect, row.help)
    # every code-like word in the text is a code
    named = set(re.findall(r"`([A-Z]+(?:_[A-Z]+)+)`", DOC))
    env_like = {n for n in named if n.startswith(("DD_", "_DD_", "DDCOMPAT_"))}
    language_env = {r.match for r in signals.OTHER_LANGUAGES if r.where == "env"}
    assert named - env_like - language_env <= set(codes.CODES)


def test_every_sign_of_another_language() -> None:
    for row in signals.OTHER_LANGUAGES:
        assert f"`{row.match}" in DOC or f"{row.match.rsplit('/', 1)[-1]}" in DOC, row


def test_every_environment_switch() -> None:
    rows = _rows(r"_?DD_[A-Z_]+")
    assert [(r[0], r[2]) for r in rows] == [(s.variable, s.feature) for s in signals.ENV_SWITCHES]
    for (variable, when, _), switch in zip(rows, signals.ENV_SWITCHES, strict=True):
        assert variable == switch.variable
        assert all(re.search(rf"\b{v}\b", when) for v in switch.values)
        assert ("DD_REMOTE_CONFIGURATION_ENABLED" in when) == switch.with_remote_config
    assert signals.REMOTE_CONFIG_ENV in DOC
    assert settings.EDITION_ENV in DOC
    for edition in matrix_mod.EDITIONS:
        assert f"`{edition}`" in DOC


def test_every_annotation_key_and_feature_id() -> None:
    keys = {r[0] for r in _rows(re.escape(signals.PREFIX) + ".*")}
    expected = {signals.PREFIX + k for k in (*signals.KEYS, signals.KEY_MODE)}
    assert keys == expected
    for name in re.findall(r"`ddcompat\.io/([^`]+)`", DOC):
        key = name.rsplit(".", 1)[-1] if name.startswith("<container>.") else name
        assert key in (*signals.KEYS, signals.KEY_MODE, "<key>"), name
    assert signals.LIB_INJECTION_ANNOTATION in DOC
    for feature in model.FEATURES:
        assert f"`{feature}`" in DOC


def test_json_fields_and_exit_status() -> None:
    schema = json.loads(
        resources.files("ddcompat.shared.schemas")
        .joinpath("check-output.schema.json")
        .read_text(encoding="utf-8")
    )
    for field in (*schema["properties"], *schema["$defs"]["workload"]["properties"]):
        assert f"`{field}`" in DOC, field
    for field in (
        *schema["$defs"]["reason"]["properties"],
        *schema["$defs"]["feature"]["properties"],
    ):
        assert f"`{field}`" in DOC, field
    # where facts come from: the same words in the code, the schema and this page
    sources = typing.get_args(model.FactSource)
    assert [s for s in schema["$defs"]["fact_source"]["enum"] if s] == list(sources)
    for source in sources:
        assert f"`{source}`" in DOC, source
    statuses = {r[0] for r in (line.split("|")[1:2] for line in DOC.splitlines()) if r}
    assert {str(EXIT_OK), str(EXIT_FINDINGS), str(EXIT_USAGE)} <= {s.strip() for s in statuses}


def test_the_precedence_table_is_printed_as_the_code_has_it() -> None:
    from ddcompat.shared import precedence

    start = (
        "<!-- precedence table: generated from ddcompat.shared.precedence (a test compares) -->\n"
    )
    end = "<!-- end of the precedence table -->"
    for text in (DOC, (ROOT / "README.md").read_text(encoding="utf-8")):
        printed = text.split(start, 1)[1].split(end, 1)[0]
        assert printed == precedence.markdown()
    # every facts_source word has a row, and each row ranks for some fact
    words = set(typing.get_args(model.FactSource))
    assert {r.source for r in precedence.ROWS} == words
    assert {s for order in precedence.ORDER.values() for s in order} == words
