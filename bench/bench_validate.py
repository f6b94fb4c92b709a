"""Benchmark per-deal validation against schemas/deal.schema.json: three validators, one run.

Usage: python bench/bench_validate.py [--records 50000] [--repeat 5]

The 54 example deals of examples/deals.jsonl are cycled to ``--records``
records, each a distinct dict parsed from its own JSON line (so the run sees
real memory traffic, not the same 54 dicts again and again).  Prints µs per
deal, best of ``--repeat`` passes, for:

  * jsonschema: one reused ``Draft202012Validator`` with the format checker, ``is_valid``;
  * fastjsonschema: ``fastjsonschema.compile`` (what deal_schema.py uses today);
  * compiled: ``cycleflow.validate.compiled.compile_validator``;

with the ratios between them, and checks that all three agree on which records are valid.
Nothing is asserted beyond that agreement: a benchmark reports.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator

from cycleflow.validate.compiled import compile_validator

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "deal.schema.json"
EXAMPLES = ROOT / "examples" / "deals.jsonl"


def records(n: int) -> list[dict[str, Any]]:
    lines = [line for line in EXAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = []
    for i in range(n):
        deal = json.loads(lines[i % len(lines)])
        deal["id"] = f"{deal['id']}-{i}"
        out.append(deal)
    return out


def timed(check: Callable[[Any], bool], deals: list[dict[str, Any]], repeat: int) -> float:
    """Best µs per deal over ``repeat`` passes."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for deal in deals:
            check(deal)
        best = min(best, time.perf_counter() - start)
    return best / len(deals) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    deals = records(args.records)

    reference = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    # fastjsonschema rewrites the schema's $refs in place: give it its own copy
    fast = fastjsonschema.compile(
        copy.deepcopy(schema), handlers={}, use_formats=True, use_default=False
    )
    t0 = time.perf_counter()
    compiled = compile_validator(schema)
    compile_ms = (time.perf_counter() - t0) * 1e3
    if compiled.fallback_reason is not None:
        print(f"note: compile_validator fell back to fastjsonschema: {compiled.fallback_reason}")

    def fast_ok(deal: Any) -> bool:
        try:
            fast(deal)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    def compiled_ok(deal: Any) -> bool:
        return compiled(deal) is None

    checks: dict[str, Callable[[Any], bool]] = {
        "jsonschema (reused validator)": reference.is_valid,
        "fastjsonschema": fast_ok,
        "compiled (cycleflow)": compiled_ok,
    }
    verdicts = {name: sum(map(check, deals)) for name, check in checks.items()}
    if len(set(verdicts.values())) != 1:
        print(f"DISAGREEMENT on valid counts: {verdicts}")

    print(
        f"{len(deals)} records ({verdicts['compiled (cycleflow)']} valid), "
        f"best of {args.repeat}; compile_validator took {compile_ms:.1f} ms"
    )
    timings = {name: timed(check, deals, args.repeat) for name, check in checks.items()}
    mine = timings["compiled (cycleflow)"]
    for name, us in timings.items():
        print(f"  {name:32s} {us:8.2f} µs/deal   {us / mine:6.1f}x compiled")
    print(
        f"  compiled is {timings['fastjsonschema'] / mine:.1f}x faster than fastjsonschema, "
        f"{timings['jsonschema (reused validator)'] / mine:.0f}x faster than jsonschema"
    )


if __name__ == "__main__":
    main()
