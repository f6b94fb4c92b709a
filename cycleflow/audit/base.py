"""What every audit sink shares: the sink protocol, the event vocabulary and AuditError.

Kept free of I/O so the engine can import it cheaply and type against it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from types import TracebackType
from typing import Any, Final, Protocol, TypeVar, runtime_checkable

from cycleflow.errors import AuditError as AuditError  # re-exported: it lived here

#: A structlog-style processor: ``(logger, method_name, event_dict) -> event_dict``.
Processor = Callable[[Any, str, MutableMapping[str, Any]], Any]

#: The event names the engine emits, in the order they can occur in one decision.
EVENT_NAMES: Final = (
    "transition.requested",
    "rule.evaluated",
    "transition.allowed",
    "transition.blocked",
    "transition.needs_approval",
    "transition.not_permitted",
    "transition.applied",
    "deal.checked",
    "batch.started",
    "batch.finished",
)

#: The fields the engine fills in every event (DESIGN.md, audit paragraph).
EVENT_FIELDS: Final = (
    "event", "at", "decision_id", "deal", "policy", "policy_version", "policy_sha256",
    "rule", "kind", "outcome", "severity", "actor", "trigger", "from", "to", "values",
    "message",
)

#: Fields the engine adds to one event per decision only: ``recorded_at``, the wall-clock
#: time of writing, on ``transition.requested``, ``transition.applied`` and ``deal.checked``.
STAMPED_FIELDS: Final = ("recorded_at",)

#: Fields the hash chain adds to each stored record; an event may not carry them.
CHAIN_FIELDS: Final = ("seq", "prev", "hash")

#: ``prev`` of the first record of a chain.
GENESIS: Final = "0" * 64


@runtime_checkable
class AuditSink(Protocol):
    """Where the engine sends one decision's events: ``emit`` once per decision, atomically.

    Any object with these two methods is a sink; it need not be a context manager (the
    shipped sinks are: ``with JsonlSink(path) as sink:`` closes the log).
    """

    def emit(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Record all of ``events`` together (or raise AuditError and record none)."""

    def close(self) -> None:
        """Release the sink's resources; later ``emit`` calls raise AuditError."""


_Sink = TypeVar("_Sink", bound="SinkBase")


class SinkBase:
    """Context-manager plumbing and the closed flag, shared by the concrete sinks."""

    _closed: bool = False

    def close(self) -> None:
        """Mark the sink closed (subclasses release resources too)."""
        self._closed = True

    @property
    def closed(self) -> bool:
        """True once ``close`` has run."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise AuditError(f"{type(self).__name__} is closed; open a new sink to record events")

    def _prepare(
        self, processors: Sequence[Processor], events: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """The sink's own copies of ``events`` after ``processors``; empty when nothing is left."""
        self._check_open()
        check_events(events)
        return run_processors(processors, events) if events else []

    def __enter__(self: _Sink) -> _Sink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def check_events(events: Any) -> None:
    """Refuse what is not a list of event dicts (a caller's mistake, not a log failure)."""
    if (events is None or isinstance(events, (str, bytes, Mapping))
            or not isinstance(events, Iterable)):
        raise AuditError(f"emit() takes a list of event dicts, not {type(events).__name__}")
    for event in events:
        if not isinstance(event, Mapping):
            raise AuditError(f"emit() takes a list of event dicts; one is a "
                             f"{type(event).__name__}")


def run_processors(
    processors: Sequence[Processor], events: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Copy each event and pass it through ``processors``; events a processor drops vanish.

    A processor drops an event by raising ``structlog.DropEvent``, as in structlog.
    Any other failure becomes an AuditError, so a broken processor never loses events silently.
    """
    if not processors:
        return [dict(event) for event in events]
    from structlog import DropEvent  # structlog costs ~0.1 s to import: only when used

    out: list[dict[str, Any]] = []
    for event in events:
        record: Any = dict(event)
        values = record.get("values")
        if isinstance(values, Mapping):  # a processor editing values in place must not
            record["values"] = {  # reach the Decision's own events: copy what it can edit
                k: copy.deepcopy(v) if isinstance(v, (list, dict)) else v
                for k, v in values.items()
            }
        try:
            for proc in processors:
                record = proc(None, "emit", record)
        except DropEvent:
            continue
        except Exception as exc:
            name = getattr(proc, "__name__", type(proc).__name__)
            raise AuditError(f"audit processor {name} failed: {exc}") from exc
        if not isinstance(record, Mapping):
            raise AuditError(
                f"audit processor {getattr(proc, '__name__', proc)!r} returned "
                f"{type(record).__name__}, not an event dict (renderers belong in StructlogSink)"
            )
        out.append(record if isinstance(record, dict) else dict(record))
    return out
