"""``.env`` files as Docker Compose reads them, and nothing else: ``KEY=value`` lines,
``export KEY=value``, ``#`` comments (whole lines, or after a space in an unquoted value),
single quotes (literal, may span lines), double quotes (``\\n``, ``\\t``, ``\\"``,
``\\\\``, ``\\$`` escapes and interpolation, may span lines) and unquoted values
(trimmed, interpolated).

Interpolation (``${VAR}``, ``${VAR:-default}``...) sees only the variables defined
earlier in the same file and the files read before it: never the process environment,
so a report never holds the environment of the shell that ran it (a ``.env`` that says
``TAG=${CI_SECRET}`` gets an empty ``TAG``, not the secret). One pass over the text, and
expansion within one growth budget per file (see :mod:`._interpolate`).
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Callable, Mapping
from typing import NamedTuple

from ddcompat.shared.parsers import _interpolate

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
# a double-quoted value: no backtracking (each character is either plain or an escape pair)
_DOUBLE = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$$"}
# problems reported per file at most (a file of junk lines gives a few, then a count)
MAX_PROBLEMS = 20


class EnvFile(NamedTuple):
    values: dict[str, str]
    # (line number, message) of lines that could not be read, or values left empty
    problems: list[tuple[int, str]]


def parse(text: str, known: Mapping[str, str] | None = None) -> EnvFile:
    """The variables of one ``.env`` text; ``known``: variables of files read before it
    (interpolation sees them, the result does not repeat them)."""
    values: dict[str, str] = {}
    problems: list[tuple[int, str]] = []
    # (this file's variables first, then those of the files read before it)
    scope: Mapping[str, str] = values if not known else ChainMap(values, dict(known))
    budget = _interpolate.Budget()
    pos, lineno, end = 0, 1, len(text)

    def problem(line: int, message: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append((line, message))

    while pos < end:
        nl = text.find("\n", pos)
        eol = end if nl < 0 else nl
        start_line = lineno
        line = text[pos:eol].strip()
        if not line or line.startswith("#"):
            pos, lineno = eol + 1, lineno + 1
            continue
        # where the line starts once leading blanks and `export ` are gone
        at = pos + (len(text[pos:eol]) - len(text[pos:eol].lstrip()))
        if text.startswith("export", at) and text[at + 6 : at + 7] in (" ", "\t"):
            at = at + 7
            while at < eol and text[at] in " \t":
                at += 1
        eq = text.find("=", at, eol)
        key = text[at:eq].strip() if eq >= 0 else text[at:eol].strip()
        if eq < 0 or not _KEY.fullmatch(key):
            # a bare KEY takes its value from the environment in Docker: not read here
            if eq >= 0 or not _KEY.fullmatch(key):
                problem(start_line, f"not a KEY=value line: {_cut(line)}")
            pos, lineno = eol + 1, lineno + 1
            continue
        v = eq + 1
        while v < eol and text[v] in " \t":
            v += 1
        quote = text[v] if v < eol else ""
        if quote == "'":
            close = text.find("'", v + 1)
            if close < 0:
                problem(start_line, f"{key}: unterminated single quote")
                raw, stop = text[v + 1 : eol], eol
            else:
                raw, stop = text[v + 1 : close], close
            value = raw
        elif quote == '"':
            m = _DOUBLE.match(text, v)
            if m is None:
                problem(start_line, f"{key}: unterminated double quote")
                raw, stop = text[v + 1 : eol], eol
            else:
                raw, stop = _ESCAPE.sub(lambda e: _ESCAPES.get(e[1], "\\" + e[1]), m[1]), m.end()
            value = _expand(key, raw, scope, budget, start_line, problem)
        else:
            raw = text[v:eol]
            cut = _comment(raw)
            value = _expand(key, raw[:cut].strip(), scope, budget, start_line, problem)
            stop = eol
        values[key] = value
        # a quoted value may span lines: go on after the line it ends on
        nl = text.find("\n", stop)
        lineno += text.count("\n", pos, stop if nl < 0 else nl + 1)
        pos = end if nl < 0 else nl + 1
    return EnvFile(values, problems)


def _comment(raw: str) -> int:
    """Where an inline comment starts in an unquoted value (`` #`` or a tab before it)."""
    best = len(raw)
    for mark in (" #", "\t#"):
        i = raw.find(mark)
        if 0 <= i < best:
            best = i
    return best


def _expand(
    key: str,
    raw: str,
    scope: Mapping[str, str],
    budget: _interpolate.Budget,
    line: int,
    problem: Callable[[int, str], None],
) -> str:
    got = _interpolate.expand(raw, scope, dollar_escape=True, budget=budget)
    if got.too_long:
        problem(line, f"{key}: too long once expanded; left empty")
        return ""
    return got.text


def _cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
