"""Variable interpolation as Docker reads it: Dockerfile ``ARG``/``ENV`` references and
Compose ``${VAR}`` forms, in one pass over the text (linear time).

Forms: ``$VAR``, ``${VAR}``, ``${VAR:-default}`` (unset or empty), ``${VAR-default}``
(unset), ``${VAR:+alt}``, ``${VAR+alt}``, ``${VAR:?message}`` and ``${VAR?message}``
(required); Compose also writes ``$$`` for a literal ``$``. A variable that is needed and
not set expands to the empty string, as Docker does, and is named in the result so the
caller can say which fact it left unknown.
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


class Expanded(NamedTuple):
    text: str
    # variables that were needed and not set (in order, without repeats)
    unresolved: tuple[str, ...]


def expand(text: str, variables: Mapping[str, str], *, dollar_escape: bool = False) -> Expanded:
    """``text`` with its variable references replaced from ``variables``.
    ``dollar_escape``: ``$$`` is a literal ``$`` (Compose)."""
    if "$" not in text or len(text) > MAX_TEXT:
        return Expanded(text, ())
    missing: dict[str, None] = {}

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
            return value
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                inner = expand(word, variables, dollar_escape=dollar_escape)
                missing.update(dict.fromkeys(inner.unresolved))
                return inner.text
            return value
        if op in (":+", "+"):
            if value is None or (op == ":+" and value == ""):
                return ""
            inner = expand(word, variables, dollar_escape=dollar_escape)
            missing.update(dict.fromkeys(inner.unresolved))
            return inner.text
        # ":?" / "?": required
        if value is None or (op == ":?" and value == ""):
            missing[name] = None
            return ""
        return value

    out = _REF.sub(one, text)
    return Expanded(out, tuple(missing))
