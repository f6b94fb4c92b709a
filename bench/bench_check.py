"""Benchmark `check`: in-process per deal and end-to-end JSON Lines, against hand-written baselines.

Usage: python bench/bench_check.py [--deals 1000000] [--sample 50000] [--jobs N] [--runs 3]

Prints, measured in the same run:
  * in-process µs per deal: Engine.check_record (the batch path) and Engine.check vs
    bench/handwritten.py (same checks), and the ratios;
  * end-to-end `cycleflow check --format jsonl` deals/s on all cores vs a hand-written
    multiprocess script doing the same (bench/handwritten_mp.py), and the ratio;
  * peak memory (max RSS) of each end-to-end run;
  * where a worker's time goes per record (parse, validation, rules, encoding, counting).
Nothing is asserted: a benchmark reports.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import handwritten  # noqa: E402

from cycleflow import Engine, load_policy  # noqa: E402

POLICY = ROOT / "policies" / "standard-sales-cycle.yaml"
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


def in_process(path: Path, sample: int) -> None:
    deals = []
    with path.open("rb") as fh:
        for _, line in zip(range(sample), fh, strict=False):
            deals.append(orjson.loads(line))
    engine = Engine(load_policy(POLICY))
    fast = Engine(load_policy(POLICY), validate_deals=False)
    for d in deals[:2000]:  # agreement first: the baseline must really do the same checks
        v = engine.check(d, now=NOW)
        mine = sorted(x.rule for x in v.violations) if v.verdict != "error" else []
        verdict, theirs = handwritten.check(d, NOW)
        if (v.verdict, mine) != (verdict, sorted(theirs)):
            print(f"DISAGREE on {d['id']}: engine {v.verdict} {mine} vs hand {verdict} "
                  f"{sorted(theirs)}")
            break

    fns = {
        "hand": lambda d: handwritten.check(d, NOW),
        "eng": lambda d: engine.check(d, now=NOW),
        "eng_nv": lambda d: fast.check(d, now=NOW),
        "rec": lambda d: engine.check_record(d, NOW, 1, "deals.jsonl"),
        "rec_nv": lambda d: fast.check_record(d, NOW, 1, "deals.jsonl"),
    }
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(5):  # the functions take turns, so drift on a shared machine hits all alike
        for name, fn in fns.items():
            best[name] = min(best[name], _timed(fn, deals))
    hand, eng, eng_nv, rec, rec_nv = (best[k] for k in fns)
    print(f"in-process check, {len(deals):,} deals, best of 5 interleaved rounds:")
    print(f"  hand-written function               {hand:8.2f} µs/deal")
    print(f"  Engine.check_record (deal_schema)   {rec:8.2f} µs/deal   ratio {rec / hand:5.2f}"
          "   <- what `cycleflow check` runs per record")
    print(f"  Engine.check_record (no validation) {rec_nv:8.2f} µs/deal   ratio "
          f"{rec_nv / hand:5.2f}")
    print(f"  Engine.check -> Verdict (schema)    {eng:8.2f} µs/deal   ratio {eng / hand:5.2f}")
    print(f"  Engine.check -> Verdict (no valid.) {eng_nv:8.2f} µs/deal   ratio "
          f"{eng_nv / hand:5.2f}")


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
    }
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(5):  # results are dropped as they come: keeping them costs page faults
        for name, (fn, items) in steps.items():
            best[name] = min(best[name], _timed(fn, items))
    print(f"per record on fresh records, {len(lines):,} lines, best of 5 interleaved rounds:")
    for name, us in best.items():
        print(f"  {name:42s} {us:6.2f} µs")


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
    ours = [sys.executable, "-m", "cycleflow", "check", "-p", str(POLICY), str(path), "--format",
            "jsonl", "-o", str(out), "--now", NOW.isoformat(), "--jobs", str(jobs)]
    best: dict[str, tuple[float, float]] = {}
    for _ in range(runs):
        for label, cmd in (("hand", hand), ("ours", ours)):
            took = _run(cmd)
            if took is None:
                out.unlink(missing_ok=True)
                return
            if label not in best or took[0] < best[label][0]:
                best[label] = took
    out.unlink(missing_ok=True)
    base = n / best["hand"][0]
    for label, name in (("hand", "hand-written multiprocess script"), ("ours", "cycleflow check")):
        dt, peak = best[label]
        ratio = f"   ratio {n / dt / base:5.2f}" if label == "ours" else ""
        print(f"  {name:34s} {dt:7.2f} s  {n / dt:10,.0f} deals/s  max RSS "
              f"{peak:6.0f} MB{ratio}")


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
