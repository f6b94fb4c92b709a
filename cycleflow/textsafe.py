"""Text from deals and policies made safe to print on a terminal: shown, never interpreted.

Control characters (but tab and newline) and bidirectional overrides are written as
``\\xNN``/``\\uNNNN``: a deal id holding ``ESC [2J`` or ``ESC ] 0;title BEL`` must not
clear the screen or retitle the window of whoever reads a report or a log.
:func:`visible` keeps tab and newline (a multi-line message stays readable);
:func:`one_line` escapes them too, for a table cell whose row they would break.
"""

from __future__ import annotations

import re
from typing import Final

# C0/C1 controls (but tab and newline) and the bidirectional overrides that can disguise text.
_UNSAFE: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with control and bidi-override characters shown as ``\\xNN``/``\\uNNNN``."""
    return _UNSAFE.sub(_escape, text)


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


# What still breaks a line after visible(): tab, newline, and the Unicode line separators.
_BREAKS: Final = re.compile("[\t\n\u2028\u2029]")


def one_line(text: str) -> str:
    """:func:`visible`, and on one line: tab and newline are written ``\\t`` and ``\\n``
    (U+2028/U+2029 as ``\\uNNNN``), for a table cell or a log line a value must not split."""
    return _BREAKS.sub(_escape_break, visible(text))


def _escape_break(m: re.Match[str]) -> str:
    c = m.group()
    return "\\t" if c == "\t" else "\\n" if c == "\n" else f"\\u{ord(c):04x}"


__all__ = ["one_line", "visible"]
