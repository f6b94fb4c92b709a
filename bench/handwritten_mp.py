"""Baseline for the end-to-end benchmark: a hand-written multiprocess JSONL checker.

Usage: python bench/handwritten_mp.py IN.jsonl OUT.jsonl JOBS [--validate]

Each worker reads its own line-aligned byte range, judges every deal with
bench/handwritten.py and returns encoded verdict lines; the parent writes them
in order. The same shape of work as ``cycleflow check --format jsonl``.
With ``--validate`` the workers judge with bench/handwritten_schema.py instead:
the same rule checks plus the deal-schema checks ``cycleflow check`` does (a deal
that breaks the schema gets the verdict "error"), the like-for-like baseline.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone

import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import handwritten  # noqa: E402
import handwritten_schema  # noqa: E402

NOW = datetime(2026, 11, 26, 12, tzinfo=timezone.utc)
CHUNK = 4 * 1024 * 1024


def ranges(path: str, validate: bool = False) -> list[tuple[str, int, int, int, bool]]:
    size = os.path.getsize(path)
    out = []
    with open(path, "rb") as fh:
        start, line = 0, 1
        while start < size:
            fh.seek(min(start + CHUNK, size))
            fh.readline()
            end = fh.tell()
            out.append((path, start, end, line, validate))
            fh.seek(start)
            line += fh.read(end - start).count(b"\n")
            start = end
    return out


def work(job: tuple[str, int, int, int, bool]) -> bytes:
    path, start, end, line, validate = job
    judge = handwritten_schema.check if validate else handwritten.check
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    out = []
    for n, raw in enumerate(data.split(b"\n")):
        if not raw.strip():
            continue
        deal = orjson.loads(raw)
        verdict, rules = judge(deal, NOW)
        out.append(orjson.dumps({"deal": deal.get("id"), "record": line + n, "source": path,
                                 "stage": deal.get("stage"), "verdict": verdict,
                                 "violations": [{"rule": r} for r in rules], "warnings": [],
                                 "approvals_needed": []}))
    return b"\n".join(out) + b"\n"


def main() -> None:
    args = sys.argv[1:]
    validate = "--validate" in args
    if validate:
        args.remove("--validate")
    if len(args) != 3:
        sys.exit(__doc__.splitlines()[2])
    src, dst, jobs = args[0], args[1], int(args[2])
    with ProcessPoolExecutor(jobs) as pool, open(dst, "wb") as out:
        for chunk in pool.map(work, ranges(src, validate)):
            out.write(chunk)


if __name__ == "__main__":
    main()
