"""Variable interpolation as Docker reads it: Dockerfile ``ARG``/``ENV`` references and
Compose ``${VAR}`` forms, in one pass over the text (linear time).

Forms: ``$VAR``, ``${VAR}``, ``${VAR:-default}`` (unset or empty), ``${VAR-default}``
(unset), ``${VAR:+alt}``, ``${VAR+alt}``, ``${VAR:?message}`` and ``${VAR?message}``
(required); Compose also writes ``$$`` for a literal ``$``. A variable that is needed and
not set expands to the empty string, as Docker does, and is named in the result so the
caller can say which fact it left unknown.

Expansion is bounded: a result longer than :data:`MAX_TEXT` characters is never built.
A reference whose value would take the text past it is left empty and named in
``too_long`` (so ``ARG B=$A$A$A...`` chains, each doubling the last, stay small and linear
in the input instead of growing to gigabytes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

# (a default may hold one level of braces: ${A:-${B}}; the alternatives start with
# different characters, so matching stays linear)
_REF = re.compile(
    r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])((?:[^{}]|\{[^{}]*\})*))?\}"
    r"|([A-Za-z_][A-Za-z0-9_]*))"
)
# Longer text is not expanded (a descriptor's values are short; bounded work per value).
MAX_TEXT = 65_536
# What expansion may add to one document in all (every value of a .env file, every string
# of a compose file, every ARG/ENV of a Dockerfile): past it, references are left empty.
MAX_GROWTH = 16 << 20


class Budget:
    """Characters that expansion may still add to one document."""

    __slots__ = ("left",)

    def __init__(self, total: int = MAX_GROWTH) -> None:
        self.left = total


class Expanded(NamedTuple):
    text: str
    # variables that were needed and not set (in order, without repeats)
    unresolved: tuple[str, ...]
    # variables whose value would have made the text longer than the bound (left empty)
    too_long: tuple[str, ...] = ()


def expand(
    text: str,
    variables: Mapping[str, str],
    *,
    dollar_escape: bool = False,
    limit: int = MAX_TEXT,
    budget: Budget | None = None,
) -> Expanded:
    """``text`` with its variable references replaced from ``variables``, at most
    ``limit`` characters long (and growing by no more than ``budget`` has left).
    ``dollar_escape``: ``$$`` is a literal ``$`` (Compose)."""
    if "$" not in text or len(text) > MAX_TEXT:
        return Expanded(text, ())
    if budget is not None:
        limit = min(limit, len(text) + budget.left)
    missing: dict[str, None] = {}
    too_long: dict[str, None] = {}
    # characters the result will hold: the text itself, plus what replacements add
    size = len(text)

    def fits(name: str, value: str) -> str:
        nonlocal size
        if size + len(value) > limit:
            too_long[name] = None
            return ""
        size += len(value)
        return value

    def nested(word: str) -> str:
        inner = expand(word, variables, dollar_escape=dollar_escape, limit=max(limit - size, 0))
        missing.update(dict.fromkeys(inner.unresolved))
        too_long.update(dict.fromkeys(inner.too_long))
        return inner.text

    def one(m: re.Match[str]) -> str:
        if m.group(1) is not None:  # "$$"
            return "$" if dollar_escape else "$$"
        name = m.group(2) or m.group(5)
        op, word = m.group(3), m.group(4) or ""
        value = variables.get(name)
        if op is None:
            if value is None:
                missing[name] = None
                return ""
            return fits(name, value)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return fits(name, nested(word))
            return fits(name, value)
        if op in (":+", "+"):
            if value is None or (op == ":+" and value == ""):
                return ""
            return fits(name, nested(word))
        # ":?" / "?": required
        if value is None or (op == ":?" and value == ""):
            missing[name] = None
            return ""
        return fits(name, value)

    out = _REF.sub(one, text)
    if budget is not None and len(out) > len(text):
        budget.left -= len(out) - len(text)
    return Expanded(out, tuple(missing), tuple(too_long))
