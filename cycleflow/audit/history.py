"""Read one deal's events back from an audit log, and render them for ``audit show``.

Reading streams the log and parses only lines that mention the deal, so a
history query over a large JSON Lines log costs one pass, not one parse per line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from cycleflow.audit.base import AuditError
from cycleflow.audit.logfile import LongLine, read_lines, reading_log
from cycleflow.audit.segments import in_chain_order
from cycleflow.audit.sqlite import TABLE, connect_readonly
from cycleflow.audit.verify import LogSpec, jsonl_files, parse_spec
from cycleflow.textsafe import visible

if TYPE_CHECKING:
    from rich.table import Table


def _jsonl_history(path: str, deal_id: str) -> list[dict[str, Any]]:
    needle = orjson.dumps(deal_id)
    found: list[dict[str, Any]] = []
    with reading_log(path) as fh:
        for number, line in enumerate(read_lines(fh), start=1):
            if isinstance(line, LongLine):  # measured, not loaded: no record the sink
                if not line.ended:          # writes is this long; `audit verify` says
                    break                   # what it is (e.g. a power loss's zeros)
                continue
            if needle not in line:
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                if not line.endswith(b"\n"):
                    break  # torn last line: ignore it here, `audit verify` reports it
                raise AuditError(
                    f"{path}:{number}: not valid JSON; run `cycleflow audit verify {path}`"
                ) from None
            if isinstance(obj, dict) and obj.get("deal") == deal_id:
                found.append(obj)
    return found


def _sqlite_history(path: str, deal_id: str) -> list[dict[str, Any]]:
    conn = connect_readonly(path)
    try:
        rows = conn.execute(
            f"SELECT record, hash FROM {TABLE} WHERE deal = ? ORDER BY seq", (deal_id,)
        ).fetchall()
    finally:
        conn.close()
    out: list[dict[str, Any]] = []
    for record, row_hash in rows:
        obj = orjson.loads(record)
        obj["hash"] = row_hash
        out.append(obj)
    return out


def history(log: LogSpec, deal_id: str) -> list[dict[str, Any]]:
    """Every stored record about ``deal_id``, in log order (``seq``): the order they were
    written. Not by ``at``, the decision time a caller gives, which can be backdated.

    ``log`` may be the files of a rotated JSON Lines log, in any order. Records keep
    their chain fields (``seq``, ``prev``, ``hash``). This does not verify the chain;
    run :func:`verify` for that.
    """
    several = jsonl_files(log)
    if several is not None:
        for path in several:
            if not os.path.isfile(path):
                raise AuditError(f"audit log {path} does not exist")
        return [e for path in in_chain_order(several) for e in _jsonl_history(path, deal_id)]
    kind, path = parse_spec(log if isinstance(log, (str, os.PathLike)) else next(iter(log)))
    if not os.path.isfile(path):
        raise AuditError(f"audit log {path} does not exist")
    events = _jsonl_history(path, deal_id) if kind == "jsonl" else _sqlite_history(path, deal_id)
    return events


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= width else text[: width - 1] + "…"


def format_values(values: Any) -> str:
    """``field=value`` pairs, one per line, for a table cell."""
    if not isinstance(values, Mapping) or not values:
        return ""
    return "\n".join(f"{k}={_short(v, 40)}" for k, v in values.items())


_STYLE = {
    "pass": "green", "allowed": "green", "applied": "green", "compliant": "green",
    "fail": "red", "blocked": "red", "violation": "red", "error": "bold red",
    "not_permitted": "red", "needs_approval": "yellow",
}


def policy_of(event: Mapping[str, Any], *, short: bool = False) -> str:
    """The policy that judged an event, as ``id version (sha256 prefix)``; ``short``
    leaves out the id."""
    sha = str(event.get("policy_sha256") or "")[:8]
    words = [] if short else [str(event.get("policy") or "?")]
    words.append(str(event.get("policy_version") or "?"))
    if sha:
        words.append(f"({sha})")
    return " ".join(words)


def history_table(events: Sequence[Mapping[str, Any]], *, title: str | None = None) -> Table:
    """A rich table of events in the order given, one row each: the decision time (``at``)
    and, under it, when it was written (``recorded_at``, where the event has it), decision,
    event, transition, actor, rule, outcome, values, message."""
    from rich.table import Table  # imported here: only ``audit show`` renders
    from rich.text import Text

    table = Table(title=Text(visible(title)) if title else None, show_lines=False,
                  expand=False)
    for name in ("at / recorded", "decision", "event", "transition", "actor", "rule", "outcome",
                 "values", "message"):
        table.add_column(name, overflow="fold")
    # a history judged under several policies (a new version shipped meanwhile) names the
    # policy on each decision's first row: the title alone cannot say which judged which
    several = len({policy_of(e) for e in events}) > 1
    last_decision = None
    for e in events:
        decision = str(e.get("decision_id") or "")
        shown = decision[:8] if decision != last_decision else ""
        if shown and several:
            shown += "\n" + policy_of(e, short=True)
        move = ""
        if e.get("trigger"):
            move = f"{e.get('trigger')}: {e.get('from') or '?'} → {e.get('to') or '?'}"
        rule = str(e.get("rule") or "")
        if e.get("kind"):
            rule += f" ({e.get('kind')})"
        outcome = str(e.get("outcome") or "")
        if e.get("severity") and outcome in ("fail", "error", "blocked", "violation"):
            outcome += f" [{e.get('severity')}]"
        when = str(e.get("at") or "")
        if e.get("recorded_at"):  # the wall clock of writing, under the time the caller gave
            when += f"\nrecorded {e.get('recorded_at')}"
        cells = (when, shown,
                 str(e.get("event") or ""), move, str(e.get("actor") or ""), rule)
        table.add_row(  # Text, not str: a deal's "[bold]" or ESC [2J is shown, not obeyed
            *(Text(visible(cell)) for cell in cells),
            Text(visible(outcome), style=_STYLE.get(str(e.get("outcome")), "")),
            Text(visible(format_values(e.get("values")))),
            Text(visible(str(e.get("message") or ""))),
            end_section=False,
        )
        last_decision = decision
    return table


def history_json(events: Iterable[Mapping[str, Any]]) -> str:
    """The events as one JSON array (keys sorted), for ``audit show --format json``."""
    return orjson.dumps(
        list(events), default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
    ).decode()


__all__ = ["format_values", "history", "history_json", "history_table", "policy_of"]
