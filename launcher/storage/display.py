"""Object keys and file names made safe to print.

S3 and OBS keys (and file names) may hold any character, including ESC and the other control characters
that drive a terminal: printed raw, a key could clear the screen, retitle the window, hide the lines above it
or forge output. Everything that prints a name (ls, progress, errors, warnings) passes it through
`printable`, which writes such characters as Python-style escapes (`\\x1b`, `\\u202e`) and leaves every other
character, non-ASCII letters included, as it is.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL, plus the format and separator characters that reorder or break lines
# (bidirectional overrides, zero-width joiners, U+2028/U+2029), and the lone surrogates that stand for the
# bytes of a file name that is not UTF-8 (they cannot even be encoded for printing).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ud800-\udfff\ufeff]"
)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every control or invisible formatting character written as an escape."""
    return _UNSAFE.sub(_escape, text)
