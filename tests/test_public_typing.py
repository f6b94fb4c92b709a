"""The public API as an application's ``mypy --strict`` sees it: a misspelt name, a wrong
attribute or a value of the wrong type is an error there, not only at run time.

``cycleflow/__init__.py`` loads most names on first use (PEP 562); its module-level
``__getattr__`` must stay hidden from type checkers, or they accept any name read from
``cycleflow``. One mypy run checks a snippet whose lines marked ``# error`` hold a mistake
each and whose other lines are correct uses.
"""

from __future__ import annotations

import re
from pathlib import Path

import mypy.api

import cycleflow

SNIPPET = '''\
from collections.abc import Mapping, Sequence
from typing import Any, assert_type

import cycleflow
from cycleflow import Actor, Decision, Engine, Kind, Outcome, TransitionBlocked
from cycleflow import Desicion  # error
from cycleflow import NoSuchName  # error

# cycleflow.audit is reached as an attribute only (no `import cycleflow.audit` here), as an
# app that writes `import cycleflow` does: mypy must still see the real module
Sink = cycleflow.audit.AuditSink


class MySink:  # what docs/audit.md calls a sink: emit(events) and close(), nothing more
    def emit(self, events: Sequence[Mapping[str, Any]]) -> None:
        pass

    def close(self) -> None:
        pass


class HalfSink:
    def emit(self, events: Sequence[Mapping[str, Any]]) -> None:
        pass


mine: cycleflow.audit.AuditSink = MySink()
shipped: list[Sink] = [
    cycleflow.audit.JsonlSink("a.jsonl"),
    cycleflow.audit.SqliteSink("a.db"),
    cycleflow.audit.MemorySink(),
    cycleflow.audit.open_sink("a.jsonl"),
]
half: Sink = HalfSink()  # error
not_a_sink: Sink = object()  # error
typo_sink = cycleflow.audit.JsonSink("a.jsonl")  # error
missing = cycleflow.NoSuchName  # error
formats = cycleflow.report.FORMATS
with cycleflow.audit.JsonlSink("a.jsonl") as opened:
    assert_type(opened, cycleflow.audit.JsonlSink)
    opened.emit([{"event": "deal.checked"}])

actor: Actor = {"id": "ann", "roles": ["sales_rep"]}
also_actor: cycleflow.Actor = actor
bad_actor: Actor = "ann"  # error
outcome: Outcome = "needs_approval"
bad_outcome: cycleflow.Outcome = "allow"  # error
kind: Kind = "risk"
bad_kind: cycleflow.Kind = "risky"  # error

engine = Engine("policies/standard-sales-cycle.yaml", audit=MySink())
unaudited = Engine("policies/standard-sales-cycle.yaml", audit=object())  # error
for found in engine.check({}).violations:
    misspelt = found.kind == "entyr"  # error
decision: Decision = engine.decide({}, "win", actor)
try:
    engine.apply({}, "win", actor)
except TransitionBlocked as err:
    assert_type(err.decision, Decision)
    why: Outcome = err.decision.outcome
    print(err.decision.outcom)  # error
    print(err.decision.violations[0].message)
'''


def _marked_lines(text: str) -> set[int]:
    return {n for n, line in enumerate(text.splitlines(), 1) if line.endswith("# error")}


def test_mypy_strict_catches_each_mistake_and_passes_the_correct_uses(tmp_path: Path) -> None:
    snippet = tmp_path / "app.py"
    snippet.write_text(SNIPPET, encoding="utf-8")
    config = tmp_path / "mypy.ini"  # this project's own settings must not apply
    config.write_text("[mypy]\n", encoding="utf-8")
    stdout, stderr, _status = mypy.api.run([
        "--strict",
        "--python-version", "3.11",
        "--config-file", str(config),
        "--cache-dir", str(tmp_path / "mypy-cache"),
        "--show-error-codes",
        "--no-pretty",
        str(snippet),
    ])
    assert not stderr, stderr
    errors: dict[int, list[str]] = {}
    for line in stdout.splitlines():
        found = re.match(rf"{re.escape(str(snippet))}:(\d+): error: (.*)", line)
        if found:
            errors.setdefault(int(found[1]), []).append(found[2])
    expected = _marked_lines(SNIPPET)
    assert len(expected) == 12
    lines = SNIPPET.splitlines()
    missed = {n: lines[n - 1] for n in sorted(expected - errors.keys())}
    wrong = {n: (lines[n - 1], errors[n]) for n in sorted(errors.keys() - expected)}
    assert not missed, f"mypy accepted these mistakes:\n{missed}\n\nmypy said:\n{stdout}"
    assert not wrong, f"mypy refused these correct uses:\n{wrong}\n\nmypy said:\n{stdout}"


def test_every_public_name_resolves_at_run_time(tmp_path: Path) -> None:
    for name in cycleflow.__all__:
        assert getattr(cycleflow, name) is not None, name
    assert {"Actor", "Outcome", "Kind"} <= set(cycleflow.__all__)
    namespace: dict[str, object] = {}
    exec("from cycleflow import *", namespace)
    assert set(cycleflow.__all__) <= namespace.keys()
    try:
        cycleflow.NoSuchName  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as err:
        assert "NoSuchName" in str(err)
    else:
        raise AssertionError("cycleflow.NoSuchName resolved")

    with cycleflow.audit.JsonlSink(tmp_path / "a.jsonl") as sink:
        assert isinstance(sink, cycleflow.audit.AuditSink)
        sink.emit([{"event": "deal.checked", "deal": "D-1"}])
    assert sink.closed
    assert cycleflow.audit.verify(tmp_path / "a.jsonl").ok
