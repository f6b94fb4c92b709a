"""In-process sinks: MemorySink and ``capture_audit`` for tests, StructlogSink for app logging.

Neither chains nor persists; they exist so embedding apps can assert on events
and route them into their own structlog pipeline without global configuration.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from cycleflow.audit.base import (
    AuditError,
    Processor,
    SinkBase,
    check_events,
    run_processors,
)


class MemorySink(SinkBase):
    """Keeps every emitted event in memory, batch by batch; thread-safe."""

    def __init__(self, *, processors: Sequence[Processor] = ()) -> None:
        self._processors = tuple(processors)
        self._lock = threading.Lock()
        self.batches: list[list[dict[str, Any]]] = []

    def emit(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Store copies of ``events`` as one batch (processors applied)."""
        self._check_open()
        check_events(events)
        batch = run_processors(self._processors, events)
        with self._lock:
            self.batches.append(batch)

    @property
    def events(self) -> list[dict[str, Any]]:
        """All captured events, in emit order."""
        with self._lock:
            return [event for batch in self.batches for event in batch]

    def decisions(self) -> dict[str, list[dict[str, Any]]]:
        """Captured events grouped by ``decision_id``, in emit order."""
        out: dict[str, list[dict[str, Any]]] = {}
        for event in self.events:
            out.setdefault(str(event.get("decision_id")), []).append(event)
        return out

    def of(self, **match: Any) -> list[dict[str, Any]]:
        """Captured events whose fields equal ``match`` (``of(event="transition.blocked")``)."""
        return [e for e in self.events if all(e.get(k) == v for k, v in match.items())]

    def clear(self) -> None:
        """Forget everything captured so far."""
        with self._lock:
            self.batches.clear()

    def __enter__(self) -> MemorySink:
        return self


@contextmanager
def capture_audit(processors: Sequence[Processor] = ()) -> Iterator[MemorySink]:
    """Yield a fresh MemorySink to pass to an engine, closed on exit; like structlog's capture_logs.

    Nothing global is touched: ``Engine(policy, audit=captured)`` is the only wiring, so
    captures in parallel tests never see each other's events.
    """
    sink = MemorySink(processors=processors)
    try:
        yield sink
    finally:
        sink.close()


class StructlogSink(SinkBase):
    """Sends each event through a caller's structlog processor chain or bound logger.

    Give either a bound logger (its own configuration applies) or a list of processors;
    with a list, ``logger`` is the wrapped output (default: a ReturnLogger, so output
    happens only where your processors put it). Nothing is configured globally.
    """

    def __init__(
        self,
        processors_or_logger: Sequence[Processor] | Any,
        *,
        logger: Any = None,
        method: str = "info",
    ) -> None:
        if isinstance(processors_or_logger, Sequence) and not isinstance(
            processors_or_logger, (str, bytes)
        ):
            import structlog  # imported here: structlog is slow to import

            # run as structlog's BoundLogger would, but in two passes (every event through
            # the processors, then delivery), so a failing processor delivers nothing
            self._processors: tuple[Processor, ...] | None = tuple(processors_or_logger)
            self._log: Any = logger if logger is not None else structlog.ReturnLogger()
        else:
            if logger is not None:
                raise AuditError("StructlogSink: pass logger= only with a processor list")
            self._processors = None
            self._log = processors_or_logger
        if not callable(getattr(self._log, method, None)):
            raise AuditError(f"StructlogSink: the logger has no method {method!r}")
        self._method = method
        self._lock = threading.Lock()

    def emit(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Log each event as ``logger.<method>(event_name, **fields)``, the batch under a lock.

        With a processor list, every event goes through the processors before any is
        delivered: a processor that fails costs the whole batch, never part of it (a
        logger that fails part-way may have delivered some: it is not transactional).
        """
        self._check_open()
        log = getattr(self._log, self._method)
        with self._lock:
            if self._processors is None:
                for event in events:
                    fields = dict(event)
                    name = fields.pop("event", "audit")
                    try:
                        log(name, **fields)
                    except Exception as exc:
                        raise AuditError(f"StructlogSink: the logger failed: {exc}") from exc
                return
            ready = self._process(events)
            try:
                for out in ready:
                    if isinstance(out, (str, bytes, bytearray)):
                        log(out)
                    elif isinstance(out, tuple):
                        log(*out[0], **out[1])
                    else:
                        log(**out)
            except Exception as exc:
                raise AuditError(f"StructlogSink: the logger failed: {exc}") from exc

    def _process(self, events: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Every event through the processors, as structlog would (DropEvent drops one)."""
        from structlog import DropEvent

        assert self._processors is not None
        ready: list[Any] = []
        for event in events:
            out: Any = dict(event)
            out.setdefault("event", "audit")
            try:
                for proc in self._processors:
                    out = proc(self._log, self._method, out)
            except DropEvent:
                continue
            except Exception as exc:
                raise AuditError(
                    f"StructlogSink: a processor failed, so no event of this decision was "
                    f"logged: {exc}"
                ) from exc
            ready.append(out)
        return ready

    def __enter__(self) -> StructlogSink:
        return self


def stderr_json_sink() -> StructlogSink:
    """A StructlogSink that prints JSON lines to stderr: handy for a quick look while developing."""
    import structlog

    return StructlogSink(
        [structlog.processors.JSONRenderer(sort_keys=True)],
        logger=structlog.PrintLogger(sys.stderr),
    )


__all__ = ["MemorySink", "StructlogSink", "capture_audit", "stderr_json_sink"]
