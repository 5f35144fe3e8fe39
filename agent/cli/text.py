"""Stored text made safe to print on a terminal.

Runs hold whatever a request carried, and whatever a model answered. Printed raw, an escape
sequence can recolour, move the cursor or retitle the window, a bidi override can make text read
differently from what it is, a NUL or a newline can forge or hide lines of the output. So every
stored string a command prints goes through `printable`: newlines become `⏎` (one record, one
line), and every control, format or bidi character becomes a visible escape such as `\\x1b` or
`\\u202e`. JSON output needs none of this: `json.dumps` escapes them already.
"""

from __future__ import annotations

import re
import unicodedata

# C0 and C1 controls, DEL, line and paragraph separators, and the bidi and zero-width format
# characters (category Cf) that reorder or hide text.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]|[^\x00-\x7f]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\n":
        return "⏎"
    code = ord(char)
    if code >= 0x80 and unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co"):
        return char  # ordinary non-ASCII text stays as it is
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str | None) -> str:
    """`text` (None: empty) with nothing that can act on a terminal; see the module docstring."""
    return "" if text is None else _UNSAFE.sub(_escape, text)
