"""``Engine(audit=JsonlSink)``, the class and not a sink, is refused when the engine is
built, with what to pass instead, not a raw TypeError at the first decision."""

from __future__ import annotations

import pytest
from shipped import POLICY

from cycleflow import Engine, UsageError, load_policy
from cycleflow.audit import JsonlSink, MemorySink


@pytest.mark.parametrize("sink", [JsonlSink, MemorySink])
def test_a_sink_class_is_refused_with_what_to_pass(sink: type) -> None:
    with pytest.raises(UsageError, match=rf"not the class {sink.__name__}: pass "
                                         rf"{sink.__name__}\(\.\.\.\).*JsonlSink\(\"audit.jsonl\"\)"):
        Engine(load_policy(POLICY), audit=sink)


def test_a_sink_instance_is_still_taken() -> None:
    sink = MemorySink()
    assert Engine(load_policy(POLICY), audit=sink).audit is sink
