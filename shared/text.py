"""Text from descriptors, registries and requests made safe to print: names and values
are anyone's, and a terminal obeys the escape sequences in them (colours, cursor moves,
a title change, hidden text) and an XML reader rejects the control characters XML 1.0
forbids. Every renderer that writes input text to a terminal or XML goes through here."""

from __future__ import annotations

import re

# C0 controls (newline and tab too: one value never breaks a table's line), DEL, C1
# controls, and the Unicode controls that reorder or hide text (bidi overrides and
# isolates, the Trojan Source characters)
_UNSAFE = [*range(0x00, 0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_PRINT_TABLE = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _UNSAFE}
# what XML 1.0 cannot hold at all (even as a character reference)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def printable(text: str) -> str:
    """``text`` with every control character written as an escape (``\\x1b``)."""
    return text.translate(_PRINT_TABLE)


def xml_safe(text: str) -> str:
    """``text`` with the characters XML 1.0 cannot hold written as escapes."""
    return _NOT_XML.sub(
        lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text
    )
