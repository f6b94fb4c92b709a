"""Benchmark `check`: in-process per deal and end-to-end JSON Lines, against hand-written baselines.

Usage: python bench/bench_check.py [--deals 1000000] [--sample 50000] [--jobs N] [--runs 3]

Prints, measured in the same run:
  * in-process µs per deal: Engine.check_record (the batch path) and Engine.check vs
    bench/handwritten.py (the same rule checks, no deal-schema checks) and vs
    bench/handwritten_schema.py (the same rule checks plus the same deal-schema checks:
    like for like), and the ratios against each;
  * end-to-end `cycleflow check --format jsonl` deals/s on all cores vs a hand-written
    multiprocess script doing the same (bench/handwritten_mp.py, without and with the
    deal-schema checks), and the ratios;
  * peak memory (max RSS) of each end-to-end run;
  * where a worker's time goes per record (parse, validation, rules, encoding, counting).
Nothing about speed is asserted: a benchmark reports.  What is asserted first is that the
baselines do the same checks: both agree with the engine on generated deals, and the
validating baseline agrees with the engine on which of several hundred damaged deals
(every keyword of the deal schema broken, and edge cases that still hold) break the
deal schema; any disagreement stops the benchmark with exit status 1.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import handwritten  # noqa: E402
import handwritten_schema  # noqa: E402

from cycleflow import Engine, load_policy  # noqa: E402

POLICY = ROOT / "policies" / "standard-sales-cycle.yaml"
SCHEMA = ROOT / "schemas" / "deal.schema.json"
NOW = datetime(2026, 11, 26, 12, tzinfo=timezone.utc)


def generate(path: Path, n: int) -> None:
    """n deals cycled from the examples with fresh ids (cached between runs)."""
    if path.exists() and sum(1 for _ in path.open("rb")) == n:
        return
    base = [orjson.loads(line) for line in (ROOT / "examples" / "deals.jsonl").open("rb")]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for i in range(n):
            deal = dict(base[i % len(base)])
            deal["id"] = f"G-{i:08d}"
            out.write(orjson.dumps(deal) + b"\n")


def _timed(fn: Any, items: list[Any]) -> float:
    """µs per item of ``fn`` over ``items``, the garbage collector off as in ``timeit``: a
    collection of the 50,000 deals held here would be charged to whichever runs then."""
    gc.collect()
    gc.disable()
    try:
        t = time.perf_counter()
        for item in items:
            fn(item)
        return (time.perf_counter() - t) / len(items) * 1e6
    finally:
        gc.enable()


# ------------------------------------------------------------------ damaged deals
# Every keyword of the deal schema broken on example deals (and edge cases that still
# hold), to show the validating baseline refuses exactly the deals the engine refuses.

#: One value of each JSON type (and True, 1.0): set in place of a field, most break its type.
ANY_TYPE: tuple[Any, ...] = (None, True, False, 0, 7, -3, 1.0, 1.5, "", "text", [], ["x"], {},
                             {"k": 1})
NON_FINITE = (float("nan"), float("inf"), float("-inf"))
DATE_TIMES = (  # (value, RFC 3339 date-time?)
    ("2026-11-01T15:00Z", False),  # no seconds
    ("2026-11-01T15:00:00", False),  # no offset
    ("2026-04-31T10:00:00Z", False),  # day 31 of a 30-day month
    ("2026-02-29T10:00:00Z", False),
    ("2100-02-29T10:00:00Z", False),
    ("2026-02-30T10:00:00Z", False),
    ("2026-11-01T15:00:00Z\n", False),
    ("\n2026-11-01T15:00:00Z", False),
    ("2026-11-01 15:00:00Z", False),
    ("2026-11-01", False),
    ("0000-01-01T00:00:00Z", False),
    ("2026-13-01T00:00:00Z", False),
    ("2026-00-10T00:00:00Z", False),
    ("2026-11-00T00:00:00Z", False),
    ("2026-11-32T00:00:00Z", False),
    ("2026-11-01T24:00:00Z", False),
    ("2026-11-01T23:60:00Z", False),
    ("2026-11-01T23:59:60Z", False),  # leap second: not supported
    ("2026-11-01T15:00:00+0100", False),
    ("2026-11-01T15:00:00+01", False),
    ("2026-11-01T15:00:00+24:00", False),
    ("2026-11-01T15:00:00.Z", False),
    ("2026-11-01T15:00:00,5Z", False),
    ("2026-11-01T15:00:00ZZ", False),
    ("26-11-01T15:00:00Z", False),
    ("2026-11-1T15:00:00Z", False),
    ("\uff12\uff10\uff12\uff16-11-01T15:00:00Z", False),  # fullwidth digits
    ("2026-11-01T1\u0665:00:00Z", False),  # an Arabic-Indic digit
    ("", False),
    ("2026-11-01t15:00:00z", True),  # RFC 3339 allows lowercase
    ("2026-11-01T15:00:00z", True),
    ("2026-11-01t15:00:00Z", True),
    ("2026-11-01T15:00:00.123456789Z", True),
    ("2026-11-01T15:00:00+05:30", True),
    ("2026-11-01T15:00:00-00:00", True),
    ("2028-02-29T00:00:00Z", True),
    ("2000-02-29T00:00:00Z", True),
    ("2026-04-30T23:59:59Z", True),
    ("2026-12-31T23:59:59+23:59", True),
    ("0001-01-01T00:00:00Z", True),
)
DATES = (
    ("2026-02-29", False), ("1900-02-29", False), ("2026-04-31", False), ("2026-13-01", False),
    ("2026-00-01", False), ("2026-01-00", False), ("0000-01-01", False), ("2026-1-01", False),
    ("20261215", False), ("2026-12-15\n", False), ("2026-12-15T00:00:00Z", False),
    ("2026/12/15", False), ("", False), (" 2026-12-15", False),
    ("\u0662\u0660\u0662\u0666-12-15", False),  # Arabic-Indic digits
    ("2028-02-29", True), ("2000-02-29", True), ("2026-12-31", True), ("0001-01-01", True),
)
EMAILS = (("no-at-sign", False), ("", False), ("a@b", True), ("@", True))
VALID_APPROVAL = {"gate": "discount_desk", "by": "zed", "role": "sales_director",
                  "at": "2026-11-10T14:00:00Z", "values": {"discount_pct": 24, "amount": 1}}
VALID_STEP = {"at": "2026-10-02T10:00:00Z", "by": "ann"}

#: A damage: (class, what it does, the schema keyword it aims at as (pointer, keyword), a
#: function of a copy of an example deal giving the damaged deal, and whether the damaged
#: deal should still be valid when that is known independently of both validators: the
#: format tables above say so, from RFC 3339 / jsonschema, for each value)
Damage = tuple[str, str, tuple[str, str], Callable[[dict[str, Any]], Any], bool | None]


def _prep_customer(deal: dict[str, Any]) -> None:
    if type(deal.get("customer")) is not dict:
        deal["customer"] = {"name": "Northwind Traders"}


def _prep_approval(deal: dict[str, Any]) -> None:
    """A valid approval first in the deal's approvals (its others kept)."""
    deal["approvals"] = [copy.deepcopy(VALID_APPROVAL), *(deal.get("approvals") or [])]


def _prep_steps_list(deal: dict[str, Any]) -> None:
    steps = deal.get("steps") or []
    steps = list(steps) or ["customer_development"]  # a map's keys
    deal["steps"] = steps


def _prep_steps_map(deal: dict[str, Any]) -> None:
    steps = deal.get("steps") or {}
    as_map = {k: copy.deepcopy(VALID_STEP) for k in steps} if type(steps) is list else steps
    as_map.setdefault("customer_development", copy.deepcopy(VALID_STEP))
    deal["steps"] = as_map


def _leaf_values(sub: dict[str, Any]) -> list[tuple[str, str, Any, bool | None]]:
    """(damage class, keyword, value, still valid?) for a field with schema ``sub``: wrong
    types, and values on each side of its enum, minLength, pattern, format, minimum and
    maximum.  "still valid?" is known (not None) for the format tables' values."""
    out: list[tuple[str, str, Any]] = [("wrong type", "type", v) for v in ANY_TYPE]
    types = sub["type"] if isinstance(sub["type"], list) else [sub["type"]]
    if "number" in types or "integer" in types:
        out += [("NaN/Infinity", "type", v) for v in NON_FINITE]
        out += [("wrong type", "type", v) for v in ("12", [12], {"v": 12})]
    if "integer" in types:
        out += [("not an integer", "type", v) for v in (30.5, 30.0, -0.0, 10**30, 1e20, 0.1)]
    if "minimum" in sub:
        low = sub["minimum"]
        out += [("out of range", "minimum", v) for v in (low - 1, low - 0.001, low, float(low),
                                                          -0.0, low - 10**30)]
    if "maximum" in sub:
        high = sub["maximum"]
        out += [("out of range", "maximum", v) for v in (high + 1, high + 0.001, high,
                                                          float(high), 10**30)]
    if "enum" in sub:
        first = sub["enum"][0]
        out += [("bad enum value", "enum", v) for v in (
            "bogus", first.upper(), first.title(), first + " ", first + "\n", " " + first,
            sub["enum"][-1])]
    if "minLength" in sub:
        out += [("empty string", "minLength", v) for v in ("", " ", "x")]
    if "pattern" in sub:
        good = sub["examples"][0]
        out += [("bad pattern", "pattern", v) for v in (
            good.lower(), good.upper(), good + "X", good[:-1], good + "\n", "\n" + good,
            " " + good, good + "\n\n", "1" + good, good.replace(good[0], "\u00c9", 1), good)]
    fmt = {"date-time": DATE_TIMES, "date": DATES, "email": EMAILS}.get(sub.get("format", ""))
    if fmt is not None:
        kind = {"date-time": "malformed date-time", "date": "bad date", "email": "bad email"}[
            sub["format"]]
        return [(*x, None) for x in out] + [(kind, "format", v, ok) for v, ok in fmt]
    return [(*x, None) for x in out]


def _setter(prep: Callable[[dict[str, Any]], None], path: tuple[Any, ...],
            value: Any) -> Callable[[dict[str, Any]], Any]:
    """Damage: ``prep``, then set the value at ``path`` (or remove it: ``_DELETE``)."""

    def apply(deal: dict[str, Any]) -> Any:
        prep(deal)
        parent: Any = deal
        for key in path[:-1]:
            parent = parent[key]
        if value is _DELETE:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = copy.deepcopy(value)
        return deal

    return apply


_DELETE: Any = object()


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(map(str, path))


def _no_prep(deal: dict[str, Any]) -> None:
    pass


def _repeat_first_step(deal: dict[str, Any]) -> Any:
    _prep_steps_list(deal)
    deal["steps"].append(deal["steps"][0])
    return deal


def damages() -> list[Damage]:
    """Every damage, walking schemas/deal.schema.json: each field of each object the schema
    describes (the deal, customer, an approval, a step record) gets its leaf values, each
    required key is removed, an unknown key is added; and the steps list and map and the
    approvals list get their own (duplicates, unknown step ids, items of the wrong type)."""
    schema = json.loads(SCHEMA.read_text())
    defs = schema["$defs"]
    out: list[Damage] = []
    objects = (  # (pointer, schema, where it sits in a deal, what makes it exist)
        ("#", schema, (), _no_prep),
        ("#/properties/customer", schema["properties"]["customer"], ("customer",),
         _prep_customer),
        ("#/$defs/approval", defs["approval"], ("approvals", 0), _prep_approval),
        ("#/$defs/step_record", defs["step_record"], ("steps", "customer_development"),
         _prep_steps_map),
    )
    for ptr, obj, place, prep in objects:
        for name, sub in obj["properties"].items():
            if "properties" in sub or "$ref" in sub.get("items", {}) or name == "steps":
                continue  # an object or array of its own: below
            at, where = (*place, name), _dotted((*place, name))
            for cls, kw, value, ok in _leaf_values(sub):
                out.append((cls, f"{where} = {value!r}", (f"{ptr}/properties/{name}", kw),
                            _setter(prep, at, value), ok))
            if name not in obj.get("required", ()):
                out.append(("optional key removed", f"del {where}",
                            (f"{ptr}/properties/{name}", "(absent)"), _setter(prep, at, _DELETE),
                            True))
        for name in obj.get("required", ()):
            out.append(("required key removed", f"del {_dotted((*place, name))}",
                        (ptr, "required"), _setter(prep, (*place, name), _DELETE), False))
        for extra, value in (("x_unknown", 1), ("Id", None), ("", float("nan")),
                             ("x_list", [1, [2]])):
            out.append(("extra unknown key", f"{_dotted(place) or 'deal'}[{extra!r}] = {value!r}",
                        (ptr, "additionalProperties"), _setter(prep, (*place, extra), value),
                        True))
    steps_ptr, step_id = "#/properties/steps", defs["step_id"]
    containers = (  # the containers themselves: wrong types
        (("customer",), "#/properties/customer", _no_prep),
        (("approvals",), "#/properties/approvals", _no_prep),
        (("approvals", 0), "#/$defs/approval", _prep_approval),
        (("approvals", 0, "values"), "#/$defs/approval/properties/values", _prep_approval),
        (("steps",), steps_ptr, _no_prep),
        (("steps", "customer_development"), "#/$defs/step_record", _prep_steps_map),
    )
    for place, ptr, prep in containers:
        for value in ANY_TYPE:
            out.append(("wrong type", f"{_dotted(place)} = {value!r}", (ptr, "type"),
                        _setter(prep, place, value), None))
    for cls, kw, value, ok in _leaf_values(step_id):  # an item of the steps list
        out.append((f"steps item: {cls}", f"steps[0] = {value!r}", ("#/$defs/step_id", kw),
                    _setter(_prep_steps_list, ("steps", 0), value), ok))
    for kw, value in (  # whole steps lists: unique ids, each a step id
            ("uniqueItems", ["customer_visit", "customer_visit"]),
            ("uniqueItems", ["customer_development"] * 3),
            ("uniqueItems", ["customer_visit", "customer_development", "customer_visit"]),
            ("uniqueItems", sorted(step_id["enum"])),
            ("items", ["customer_visit", "visit"]), ("items", ["customer_visit", None]),
            ("items", ["customer_visit", 1]), ("items", ["customer_visit", True]),
            ("items", ["customer_visit", ["customer_visit"]]),
            ("items", ["customer_visit", {"customer_visit": {}}]), ("items", [])):
        out.append(("steps list (duplicates, unknown ids)", f"steps = {value!r}",
                    (steps_ptr, kw), _setter(_no_prep, ("steps",), value), None))
    out.append(("steps list (duplicates, unknown ids)", "steps += steps[0]",
                (steps_ptr, "uniqueItems"), _repeat_first_step, False))
    for key in ("bogus", "Customer_visit", "customer_visit ", "", "customer_visit\n"):
        out.append(("steps map: unknown step id", f"steps[{key!r}] added",
                    (steps_ptr, "propertyNames"),
                    _setter(_prep_steps_map, ("steps", key), VALID_STEP), False))
    for value in (None, False, True, 0, "done", [], ["x"], {}, {"k": 1}):
        out.append(("steps map: bad step record", f"steps.customer_visit = {value!r}",
                    (steps_ptr, "additionalProperties"),
                    _setter(_prep_steps_map, ("steps", "customer_visit"), value), None))
    for value in (None, 1, "discount_desk", [], [VALID_APPROVAL], {"gate": "discount_desk"},
                  {}, {k: v for k, v in VALID_APPROVAL.items() if k != "at"}):
        out.append(("approvals item: missing keys or wrong type", f"approvals[] += {value!r}",
                    ("#/properties/approvals", "items"),
                    _setter(_no_prep, ("approvals",), [copy.deepcopy(VALID_APPROVAL), value]),
                    False))
    for value in ([], ["x"], "not a deal", 1, None):  # the deal itself
        out.append(("deal of the wrong type", repr(value), ("#", "type"),
                    lambda _, v=value: copy.deepcopy(v), False))
    return out


def _keywords(node: Any, ptr: str, out: set[tuple[str, str]]) -> None:
    """(pointer, keyword) of each assertion keyword in the schema, for the coverage check."""
    if not isinstance(node, dict):
        return
    skip = {"$schema", "$id", "$ref", "title", "description", "examples", "default", "$defs",
            "properties"}
    out.update((ptr, k) for k in node if k not in skip)
    for name, sub in node.get("properties", {}).items():
        _keywords(sub, f"{ptr}/properties/{name}", out)
    for name, sub in node.get("$defs", {}).items():
        _keywords(sub, f"{ptr}/$defs/{name}", out)
    for key in ("items", "propertyNames", "additionalProperties"):
        _keywords(node.get(key), f"{ptr}/{key}", out)


def damaged_deals(listed: list[Damage], per_damage: int = 2
                  ) -> list[tuple[str, str, Any, bool | None]]:
    """(class, what, deal, still valid?): each damage on ``per_damage`` example deals (all
    valid) drawn by a seeded RNG, so the same deals every run."""
    base = [orjson.loads(line) for line in (ROOT / "examples" / "deals.jsonl").open("rb")]
    rng = random.Random(7)
    out = []
    for cls, what, _, apply, ok in listed:
        for deal in rng.sample(base, per_damage):
            out.append((cls, what, apply(copy.deepcopy(deal)), ok))
    return out


def agree_on_damaged(engine: Engine) -> None:
    """The engine's "error" verdict and ``not handwritten_schema.valid`` agree on every damaged
    deal, and every assertion keyword of the deal schema is broken at least once; else exit 1."""
    listed = damages()
    covered = {kw for _, _, kw, _, _ in listed}
    present: set[tuple[str, str]] = set()
    _keywords(json.loads(SCHEMA.read_text()), "#", present)
    missing = sorted(present - covered)
    if missing:
        print(f"DAMAGE COVERAGE: no damage breaks {missing}")
        raise SystemExit(1)
    deals = damaged_deals(listed)
    refused = 0
    for cls, what, deal, ok in deals:
        engine_error = engine.check(deal, now=NOW).verdict == "error"
        hand_error = not handwritten_schema.valid(deal)
        if engine_error != hand_error:
            print(f"DISAGREE on a damaged deal ({cls}: {what}): engine "
                  f"{'error' if engine_error else 'not error'} vs handwritten_schema.valid "
                  f"{not hand_error}\n  deal: {deal!r}")
            raise SystemExit(1)
        if ok is not None and ok == engine_error:  # both validators wrong the same way
            print(f"UNEXPECTED on a damaged deal ({cls}: {what}): engine and hand-written "
                  f"both say {'invalid' if engine_error else 'valid'}, the damage table says "
                  f"{'valid' if ok else 'invalid'}\n  deal: {deal!r}")
            raise SystemExit(1)
        refused += engine_error
    classes = {cls for cls, _, _, _ in deals}
    print(f"damaged deals: {len(deals):,} ({len(listed)} damages, {len(classes)} classes, "
          f"{len(present)} schema keywords covered), {refused:,} refused by the deal schema, "
          f"{len(deals) - refused:,} still valid; engine and hand-written schema checks agree "
          "on all")


def in_process(path: Path, sample: int) -> None:
    deals = []
    with path.open("rb") as fh:
        for _, line in zip(range(sample), fh, strict=False):
            deals.append(orjson.loads(line))
    engine = Engine(load_policy(POLICY))
    fast = Engine(load_policy(POLICY), validate_deals=False)
    for d in deals[:2000]:  # agreement first: the baselines must really do the same checks
        v = engine.check(d, now=NOW)
        mine = sorted(x.rule for x in v.violations) if v.verdict != "error" else []
        for name, baseline in (("hand", handwritten), ("hand_v", handwritten_schema)):
            verdict, theirs = baseline.check(d, NOW)
            if (v.verdict, mine) != (verdict, sorted(theirs)):
                print(f"DISAGREE on {d['id']}: engine {v.verdict} {mine} vs {name} {verdict} "
                      f"{sorted(theirs)}")
                raise SystemExit(1)
    agree_on_damaged(engine)

    fns = {
        "hand": lambda d: handwritten.check(d, NOW),
        "hand_v": lambda d: handwritten_schema.check(d, NOW),
        "eng": lambda d: engine.check(d, now=NOW),
        "eng_nv": lambda d: fast.check(d, now=NOW),
        "rec": lambda d: engine.check_record(d, NOW, 1, "deals.jsonl"),
        "rec_nv": lambda d: fast.check_record(d, NOW, 1, "deals.jsonl"),
    }
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(5):  # the functions take turns, so drift on a shared machine hits all alike
        for name, fn in fns.items():
            best[name] = min(best[name], _timed(fn, deals))
    hand, hand_v, eng, eng_nv, rec, rec_nv = (best[k] for k in fns)
    print(f"in-process check, {len(deals):,} deals, best of 5 interleaved rounds:")
    print(f"  hand-written function               {hand:8.2f} µs/deal")
    print(f"  hand-written + deal-schema checks   {hand_v:8.2f} µs/deal"
          "   <- bench/handwritten_schema.py: the same checks as the engine")
    print(f"  Engine.check_record (deal_schema)   {rec:8.2f} µs/deal   ratio {rec / hand:5.2f}"
          "   <- what `cycleflow check` runs per record")
    print(f"  Engine.check_record (no validation) {rec_nv:8.2f} µs/deal   ratio "
          f"{rec_nv / hand:5.2f}")
    print(f"  Engine.check -> Verdict (schema)    {eng:8.2f} µs/deal   ratio {eng / hand:5.2f}")
    print(f"  Engine.check -> Verdict (no valid.) {eng_nv:8.2f} µs/deal   ratio "
          f"{eng_nv / hand:5.2f}")
    print("  Engine.check_record (deal_schema), what `cycleflow check` runs per record:")
    print(f"    vs hand-written rules only                                 ratio "
          f"{rec / hand:5.2f}")
    print(f"    vs hand-written rules + deal-schema checks (like for like) ratio "
          f"{rec / hand_v:5.2f}")


def breakdown(path: Path, sample: int) -> None:
    """Where one worker's time goes per record, each step on freshly parsed records."""
    from cycleflow.report.summary import Summary

    with path.open("rb") as fh:
        lines = [line for _, line in zip(range(sample), fh, strict=False)]
    engine = Engine(load_policy(POLICY))
    fast = Engine(load_policy(POLICY), validate_deals=False)
    validator = engine._validator
    assert validator is not None
    loads, dumps = orjson.loads, orjson.dumps
    verdicts = [fast.check_record(loads(x), NOW, 1, "deals.jsonl") for x in lines]
    summary = Summary()
    steps: dict[str, tuple[Any, list[Any]]] = {  # (function of one item, the items)
        "orjson.loads of the line": (loads, lines),
        "loads + deal-schema validation": (lambda x: validator(loads(x)), lines),
        "loads + check_record, no validation": (
            lambda x: fast.check_record(loads(x), NOW, 1, "deals.jsonl"), lines),
        "loads + check_record (what workers run)": (
            lambda x: engine.check_record(loads(x), NOW, 1, "deals.jsonl"), lines),
        "orjson.dumps of the verdict": (dumps, verdicts),
        "Summary.add of the verdict": (summary.add, verdicts),
        "loads + hand-written check": (lambda x: handwritten.check(loads(x), NOW), lines),
        "loads + hand-written check with schema checks": (
            lambda x: handwritten_schema.check(loads(x), NOW), lines),
    }
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(5):  # results are dropped as they come: keeping them costs page faults
        for name, (fn, items) in steps.items():
            best[name] = min(best[name], _timed(fn, items))
    print(f"per record on fresh records, {len(lines):,} lines, best of 5 interleaved rounds:")
    for name, us in best.items():
        print(f"  {name:46s} {us:6.2f} µs")


def _run(cmd: list[str]) -> tuple[float, float] | None:
    """Seconds and peak RSS (MB; the largest of the process and its workers) of one run of
    ``cmd``; None, after saying why, if it failed."""
    with tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # its rusage covers the workers it reaped
        dt = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0, 1):
            err.seek(0)
            print(f"  {' '.join(cmd[:4])}: failed ({proc.returncode}): "
                  f"{err.read().decode(errors='replace')[-500:]}")
            return None
    return dt, usage.ru_maxrss / 1024


def end_to_end(path: Path, n: int, jobs: int, runs: int) -> None:
    """Each command ``runs`` times, taking turns; the fastest run of each is compared."""
    out = path.with_suffix(".out.jsonl")
    print(f"end-to-end JSON Lines in -> JSON Lines out, {n:,} deals, {jobs} jobs, "
          f"best of {runs} alternating runs:")
    hand = [sys.executable, str(ROOT / "bench" / "handwritten_mp.py"), str(path), str(out),
            str(jobs)]
    hand_v = [*hand, "--validate"]
    ours = [sys.executable, "-m", "cycleflow", "check", "-p", str(POLICY), str(path), "--format",
            "jsonl", "-o", str(out), "--now", NOW.isoformat(), "--jobs", str(jobs)]
    best: dict[str, tuple[float, float]] = {}
    for _ in range(runs):
        for label, cmd in (("hand", hand), ("hand_v", hand_v), ("ours", ours)):
            took = _run(cmd)
            if took is None:
                out.unlink(missing_ok=True)
                return
            if label not in best or took[0] < best[label][0]:
                best[label] = took
    out.unlink(missing_ok=True)
    base = n / best["hand"][0]
    for label, name in (("hand", "hand-written multiprocess script"),
                        ("hand_v", "hand-written script, schema checks"),
                        ("ours", "cycleflow check")):
        dt, peak = best[label]
        ratio = f"   ratio {n / dt / base:5.2f}" if label == "ours" else ""
        print(f"  {name:34s} {dt:7.2f} s  {n / dt:10,.0f} deals/s  max RSS "
              f"{peak:6.0f} MB{ratio}")
    ours_rate = n / best["ours"][0]
    print("  cycleflow check deals/s as a share of the baseline's:")
    print(f"    vs hand-written rules only                                 ratio "
          f"{ours_rate / base:5.2f}")
    print(f"    vs hand-written rules + deal-schema checks (like for like) ratio "
          f"{ours_rate / (n / best['hand_v'][0]):5.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deals", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=50_000)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--runs", type=int, default=3, help="end-to-end runs of each command")
    args = ap.parse_args()
    path = ROOT / "bench" / "data" / f"deals-{args.deals}.jsonl"
    generate(path, args.deals)
    in_process(path, min(args.sample, args.deals))
    breakdown(path, min(args.sample, args.deals))
    end_to_end(path, args.deals, args.jobs, max(1, args.runs))


if __name__ == "__main__":
    main()
