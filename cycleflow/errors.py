"""The exception hierarchy and the located-problem value every layer reports.

Every error a user can meet derives from :class:`CycleflowError`. Policy
problems carry a :class:`Problem` (file, line, column, code, message,
suggestion) so the command line can render ``file:line:col: code: message``
without ever showing a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # only for annotations: decide imports this module, so no import at run time
    from cycleflow.decide.decision import Decision

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True, slots=True)
class Location:
    """A position in a source file; line and column are 1-based, 0 when unknown."""

    file: str
    line: int = 0
    column: int = 0

    def shifted(self, columns: int) -> Location:
        """The same place, ``columns`` characters further along the line."""
        return Location(self.file, self.line, self.column + columns if self.column else 0)

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column or 1}"
        return self.file


#: What to do about a problem of each code, where its site has nothing more specific.
ADVICE: dict[str, str] = {
    "yaml-syntax": "check the indentation and quoting just before this point",
    "yaml-encoding": "save the file as UTF-8",
    "yaml-unreadable": "check that the path is a readable file",
    "yaml-empty": "start from `cycleflow init DIR`, which writes a working policy",
    "yaml-not-mapping": "a policy is a mapping of keys such as 'cycleflow: 1', 'stages:'",
    "yaml-multiple-documents": "keep one policy per file; move the rest into an include",
    "yaml-duplicate-key": "remove or rename one of the two keys",
    "yaml-tag": "write plain values; tags such as !!python are not read",
    "yaml-merge-key": "write the keys out instead of merging with <<",
    "yaml-key-type": "write keys as plain text",
    "yaml-too-deep": "flatten the nesting",
    "yaml-too-large": "split the policy into fragments with include:",
    "yaml-alias-limit": "write the values out instead of repeating aliases",
    "yaml-number": "quote the value if it is meant as text",
    "yaml11-number": "quote it if it is text; write it plainly if it is a number",
    "yaml11-boolean": "write true or false, or quote it if it is text",
    "include-cycle": "include each fragment once, and never the policy itself",
    "include-nested": "list every fragment in the main policy",
    "include-not-found": "paths are relative to the policy file's folder",
    "deal-schema-not-found": "the path is relative to the policy file's folder",
    "deal-schema-syntax": "fix the JSON at that line and column",
    "deal-schema-invalid": "the file must hold one JSON Schema object (draft 2020-12)",
    "deal-schema-too-large": "keep the deal schema under 1 MB; reference shared parts with $ref",
    "duplicate-stage": "rename one of the stages, or remove the copy",
    "duplicate-id": "give each rule its own id",
    "duplicate-transition": "merge the two transitions, or give one another trigger",
    "expr-syntax": "see docs/expressions.md for what a rule may say",
    "expr-bad-arguments": "pass arguments by position, as in len(deal.steps)",
    "expr-bad-call": "call a library function by its name, as in len(deal.steps)",
    "expr-bad-constant": "use text, numbers, true/false or null",
    "expr-constant-too-large": "shorten the constant, or read the value from the deal",
    "expr-forbidden-attribute": "read fields of deal and actor, or the parts of now and today",
    "expr-forbidden-node": "rules are expressions with comparisons, and/or/not and library "
    "functions: see docs/expressions.md",
    "expr-forbidden-operator": "use arithmetic (+ - * / // %), comparisons, in, and/or/not",
    "expr-forbidden-subscript": 'write deal["field"] or deal.list[0]',
    "expr-too-long": "split it into several rules",
    "expr-too-deep": "split it into several rules",
    "expr-unknown-field": "declare the field in deal_schema, or fix its spelling",
    "expr-unknown-name": "rules read deal, actor, stage, now and today",
    "expr-private-name": "names starting with _ are never readable",
    "expr-private-attribute": "names starting with _ are never readable",
    "expr-method-call": "use the library function instead, as in upper(deal.name)",
    "expr-string-format": "join text with +, as in 'Deal ' + deal.id",
    "expr-function-value": "call the function: len(deal.steps), not len",
    "expr-type-mismatch": "compare values of the same type (the deal schema says which)",
}


#: Full-width (CJK input mode) punctuation and what to write instead: its name and the
#: half-width character. A policy or rule typed with a Chinese input method often holds one.
FULL_WIDTH: Mapping[str, tuple[str, str]] = MappingProxyType({
    "\uff1a": ("full-width colon", ":"), "\uff0c": ("full-width comma", ","),
    "\u3001": ("ideographic comma", ","), "\uff1b": ("full-width semicolon", ";"),
    "\u201c": ("full-width opening quote", '"'), "\u201d": ("full-width closing quote", '"'),
    "\u2018": ("full-width opening quote", "'"), "\u2019": ("full-width closing quote", "'"),
    "\uff02": ("full-width quote", '"'), "\uff07": ("full-width quote", "'"),
    "\uff08": ("full-width bracket", "("), "\uff09": ("full-width bracket", ")"),
    "\u3010": ("full-width square bracket", "["), "\u3011": ("full-width square bracket", "]"),
    "\uff3b": ("full-width square bracket", "["), "\uff3d": ("full-width square bracket", "]"),
    "\uff5b": ("full-width brace", "{"), "\uff5d": ("full-width brace", "}"),
    "\uff01": ("full-width exclamation mark", "!"), "\uff1f": ("full-width question mark", "?"),
    "\uff03": ("full-width number sign", "#"), "\uff0d": ("full-width hyphen", "-"),
    "\uff1d": ("full-width equals sign", "="), "\uff1c": ("full-width less-than sign", "<"),
    "\uff1e": ("full-width greater-than sign", ">"), "\uff05": ("full-width percent sign", "%"),
    "\uff0e": ("full-width full stop", "."), "\u3002": ("ideographic full stop", "."),
    "\uff5c": ("full-width vertical bar", "|"), "\uff06": ("full-width ampersand", "&"),
    "\uff0a": ("full-width asterisk", "*"), "\uff0b": ("full-width plus sign", "+"),
    "\uff0f": ("full-width slash", "/"),
})


def full_width_message(char: str) -> str:
    """``full-width colon '：' (U+FF1A): write ':'`` for a character of :data:`FULL_WIDTH`."""
    name, ascii_char = FULL_WIDTH[char]
    return f"{name} '{char}' (U+{ord(char):04X}): write '{ascii_char}'"


#: What to do about a full-width character, whatever the code that found it.
FULL_WIDTH_ADVICE = "type punctuation with the input method in half-width (English) mode"


@dataclass(frozen=True, slots=True)
class Problem:
    """One located finding about a policy: what, where, and what to do about it.

    A problem created without a suggestion takes its code's advice from :data:`ADVICE`.
    """

    location: Location
    code: str
    message: str
    suggestion: str | None = None
    severity: Severity = "error"

    def __post_init__(self) -> None:
        if self.suggestion is None and self.code in ADVICE:
            object.__setattr__(self, "suggestion", ADVICE[self.code])

    def render(self) -> str:
        """``file:line:col: code: message (suggestion)`` — the lint line format."""
        text = f"{self.location}: {self.code}: {self.message}"
        if self.suggestion:
            text += f" ({self.suggestion})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for ``--format json`` and SARIF."""
        return {
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "suggestion": self.suggestion,
        }


class CycleflowError(Exception):
    """Base of every error cycleflow raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with every attribute (a process pool or Celery re-raises it in the parent):
        the subclasses' own __init__ signatures cannot rebuild them from ``args``."""
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(
    cls: type[CycleflowError], args: tuple[Any, ...], state: dict[str, Any]
) -> CycleflowError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class PolicyError(CycleflowError):
    """A policy cannot be loaded or compiled; carries every problem found, located."""

    def __init__(self, problems: Problem | Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = (
            (problems,) if isinstance(problems, Problem) else tuple(problems)
        )
        if not self.problems:
            raise ValueError("PolicyError needs at least one problem")
        super().__init__("\n".join(p.render() for p in self.problems))

    @property
    def problem(self) -> Problem:
        """The first problem, for callers that only show one."""
        return self.problems[0]

    @classmethod
    def at(
        cls,
        location: Location,
        code: str,
        message: str,
        suggestion: str | None = None,
    ) -> PolicyError:
        """Shorthand for an error with a single problem."""
        return cls(Problem(location, code, message, suggestion))


class RuleError(CycleflowError):
    """A rule expression could not be evaluated for one deal (fails closed)."""

    def __init__(
        self,
        reason: str,
        *,
        field: str | None = None,
        code: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> None:
        self.reason = reason  # in English; ``code`` and ``params`` render it in other languages
        self.field = field
        self.code = code
        self.params: Mapping[str, str] = params or {}
        super().__init__(reason)


class MissingField(RuleError):
    """A rule read a deal or actor field the record does not carry."""

    def __init__(self, path: str) -> None:
        super().__init__(f"missing field {path}", field=path)


class DealError(CycleflowError):
    """A deal record is malformed; carries its source and position."""

    def __init__(self, message: str, *, source: str = "", position: int | None = None) -> None:
        self.message = message
        self.source = source
        self.position = position
        where = source + (f":{position}" if position is not None else "")
        super().__init__(f"{where}: {message}" if where else message)


class UsageError(CycleflowError):
    """The caller asked for something that cannot be done (unknown trigger name, bad option)."""


class TransitionBlocked(CycleflowError):
    """``Engine.apply`` refused a transition; ``decision`` says why."""

    def __init__(self, decision: Decision) -> None:
        self.decision: Decision = decision
        reasons = [v.message for v in decision.violations] + [
            f"needs {a.missing} more approval(s) of {a.gate} from {', '.join(a.roles)}"
            for a in decision.approvals_needed
        ]
        head = f"{decision.outcome} ({decision.trigger})"
        super().__init__(f"{head}: {'; '.join(reasons)}" if reasons else head)


class AuditError(CycleflowError):
    """An audit log cannot be opened, written or read as asked; the message says what to do."""


class GraphvizMissing(CycleflowError):
    """SVG was asked for but the Graphviz ``dot`` program is not installed."""


class ProblemList:
    """An accumulator for problems, so a pass reports all of them and not just the first."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, problem: Problem) -> None:
        """Record one problem."""
        self.items.append(problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        """Record several problems."""
        self.items.extend(problems)

    def raise_if_errors(self) -> None:
        """Raise a PolicyError carrying every error-severity problem, if any."""
        errors = [p for p in self.items if p.severity == "error"]
        if errors:
            raise PolicyError(errors)
