"""Size and depth limits of rule expressions: one place, so docs, checks and tests agree."""

from __future__ import annotations

from typing import Final

MAX_SOURCE_CHARS: Final = 10_000
"""Longest expression source accepted, in characters."""

MAX_DEPTH: Final = 50
"""Deepest nesting of syntax nodes or of brackets accepted."""

MAX_CONSTANT_CHARS: Final = 10_000
"""Longest string a literal (or a constant part folded at load) may be."""

MAX_LITERAL_ITEMS: Final = 1_000
"""Most items a list, tuple or set literal (or folded constant) may hold."""

MAX_INT_BITS: Final = 10_000
"""Largest integer any step may produce, in bits (about 3,000 decimal digits)."""

MAX_SEQUENCE: Final = 1_000_000
"""Longest string or list any step may build at run time."""

MAX_EXPONENT: Final = 1_000
"""Largest absolute exponent ``**`` accepts."""

MAX_ROUND_DIGITS: Final = 1_000
"""Largest absolute ``ndigits`` of ``round``."""

MAX_MEMBERSHIP_WORK: Final = 10_000_000
"""Most element comparisons ``any_in``/``all_in`` may do."""

MAX_DATE_TEXT: Final = 64
"""Longest string ``date``/``datetime`` will parse."""
