"""Text from deals and policies made safe to print on a terminal: shown, never interpreted.

Control characters (but tab and newline) and bidirectional overrides are written as
``\\xNN``/``\\uNNNN``: a deal id holding ``ESC [2J`` or ``ESC ] 0;title BEL`` must not
clear the screen or retitle the window of whoever reads a report or a log.
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


__all__ = ["visible"]
