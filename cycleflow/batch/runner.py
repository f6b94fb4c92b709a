"""Judge a stream of deal records: one verdict per record, in input order, none dropped.

This is the per-record hot path of ``cycleflow check``: it reuses one engine,
builds nothing per record, and turns every failure of a record into an
``error`` verdict with its source and position.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from cycleflow.batch.readers import DuplicateTracker, RecordItem
from cycleflow.decide.engine import Engine
from cycleflow.errors import AuditError, CycleflowError


def _error(record: Any, position: int, source: str, message: str) -> dict[str, Any]:
    rec = record if isinstance(record, Mapping) else {}
    return {
        "deal": None if rec.get("id") is None else str(rec.get("id")),
        "record": position,
        "source": source,
        "stage": rec.get("stage") if isinstance(rec.get("stage"), str) else None,
        "verdict": "error",
        "violations": [],
        "warnings": [],
        "approvals_needed": [],
        "error": message,
    }


def _audit_stopped(err: AuditError, position: int, source: str) -> AuditError:
    """The error that stops a batch whose audit log cannot be written: a batch must not go
    on judging records whose events are lost (each became an ``error`` verdict, and a run
    losing its evidence exited like a run that found violations)."""
    return AuditError(f"{err} (at record {position} of {source}); the batch stopped there: "
                      "the records before it were judged and logged, none after it was")


def judge(
    engine: Engine,
    item: RecordItem,
    *,
    now: datetime,
    trigger: str | None = None,
    actor: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The verdict dict for one record item (``check``, or ``decide`` when a trigger is given)."""
    if item.record is None:
        message = item.error or "unreadable record"
        # the audit log accounts for every input record, the unreadable ones too
        try:
            engine.record_unreadable(message, now=now, source=item.source,
                                     record=item.position)
        except AuditError as err:
            raise _audit_stopped(err, item.position, item.source) from err
        return _error({"id": item.deal} if item.deal else None, item.position, item.source,
                      message)
    return judge_record(engine, item.record, item.position, item.source, now, trigger, actor)


def judge_record(
    engine: Engine,
    record: dict[str, Any],
    position: int,
    source: str,
    now: datetime,
    trigger: str | None = None,
    actor: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The verdict dict for one record that was read: :func:`judge` without the item."""
    try:
        if trigger is None:
            return engine.check_record(record, now, position, source)
        decision = engine.decide(record, trigger, actor, now=now, explain=False)
    except AuditError as err:  # the log, not the record: judging on unlogged would lose
        raise _audit_stopped(err, position, source) from err  # the evidence of the rest
    except CycleflowError as err:
        return _error(record, position, source, str(err))
    except (RecursionError, MemoryError) as err:
        return _error(record, position, source,
                      f"record too complex to judge: {type(err).__name__}")
    except Exception as err:  # a bug must cost one record its verdict, never the batch
        return _error(record, position, source,
                      f"internal error while judging this record: {type(err).__name__}: "
                      f"{err} (please report it)")
    verdict = "compliant" if decision.allowed else "violation"
    d = decision.to_dict()
    return {
        "deal": d["deal"],
        "record": position,
        "source": source,
        "stage": d["from"],
        "verdict": verdict,
        "outcome": d["outcome"],
        "trigger": trigger,
        "to": d["to"],
        "violations": d["violations"],
        "warnings": d["warnings"],
        "approvals_needed": d["approvals_needed"],
    }


def duplicate_warning(deal: str, message: str) -> dict[str, Any]:
    """The warning a record gets when its deal id was already used by an earlier record."""
    return {
        "rule": "duplicate_id",
        "kind": "field",
        "severity": "medium",
        "message": message,
        "values": {"deal.id": deal},
    }


def flag_duplicate(
    verdict: dict[str, Any], seen: DuplicateTracker, source: str, position: int
) -> dict[str, Any]:
    """Add the duplicate-id warning to ``verdict`` when its deal id was seen before."""
    message = seen.see(verdict.get("deal"), source, position)
    if message is not None:
        verdict["warnings"] = [*verdict["warnings"], duplicate_warning(verdict["deal"], message)]
    return verdict


def run_check(
    engine: Engine,
    items: Iterable[RecordItem],
    *,
    now: datetime,
    trigger: str | None = None,
    actor: Mapping[str, Any] | None = None,
    flag_duplicates: bool = True,
) -> Iterator[dict[str, Any]]:
    """Verdicts for every item, in order; later records reusing a deal id get a warning."""
    seen = DuplicateTracker()
    for item in items:
        verdict = judge(engine, item, now=now, trigger=trigger, actor=actor)
        if flag_duplicates:
            flag_duplicate(verdict, seen, item.source, item.position)
        yield verdict
