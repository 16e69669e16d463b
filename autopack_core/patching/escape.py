"""Showing untrusted text (paths, patch excerpts) in messages without letting
it drive the terminal.

A file name or hunk header comes from a model or an attacker. Printed raw, an
ESC or CSI sequence can recolour or rewrite the screen, a CR can overwrite the
refusal line, and bidi controls can make a path read differently from what it
is. ``shown`` escapes every such character so the message shows exactly one
line that says what the input holds.
"""

from __future__ import annotations

import re

# C0, DEL, C1; the bidi embedding/override/isolate controls and marks; line and
# paragraph separators (terminals and editors break lines there); and the lone
# surrogates that surrogateescape uses for bytes that are not UTF-8 (a raw 0x9b
# byte is CSI on an 8-bit terminal).
_UNSAFE_RE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\udc80-\udcff]")

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\x1b": "\\e"}


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    if c in _NAMED:
        return _NAMED[c]
    n = ord(c)
    if 0xDC80 <= n <= 0xDCFF:
        return f"\\x{n - 0xDC00:02x}"
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def shown(text: str) -> str:
    """``text`` with control, bidi and undecodable characters escaped
    (``\\e``, ``\\r``, ``\\x9b``, ``\\u202e``...), safe to print on one line."""
    return _UNSAFE_RE.sub(_escape, text)
