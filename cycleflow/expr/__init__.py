"""The expr stage: rule expressions, checked at load and compiled for per-record evaluation.

See docs/expressions.md for the language. Public API: :func:`compile_expression`,
:func:`check_expression`, :class:`Expression`, :class:`EvalContext`, and the
read-only function library :data:`FUNCTIONS`.
"""

from cycleflow.expr.expression import EvalContext, Expression, check_expression, compile_expression
from cycleflow.expr.functions import FUNCTIONS, Function
from cycleflow.expr.runtime import MISSING_TEXT
from cycleflow.expr.sandbox import NAMES

__all__ = [
    "FUNCTIONS",
    "MISSING_TEXT",
    "NAMES",
    "EvalContext",
    "Expression",
    "Function",
    "check_expression",
    "compile_expression",
]
