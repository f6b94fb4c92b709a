"""Baseline for the end-to-end benchmark: a hand-written multiprocess JSONL checker.

Usage: python bench/handwritten_mp.py IN.jsonl OUT.jsonl JOBS

Each worker reads its own line-aligned byte range, judges every deal with
bench/handwritten.py and returns encoded verdict lines; the parent writes them
in order. The same shape of work as ``cycleflow check --format jsonl``.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone

import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import handwritten  # noqa: E402

NOW = datetime(2026, 11, 26, 12, tzinfo=timezone.utc)
CHUNK = 4 * 1024 * 1024


def ranges(path: str) -> list[tuple[str, int, int, int]]:
    size = os.path.getsize(path)
    out = []
    with open(path, "rb") as fh:
        start, line = 0, 1
        while start < size:
            fh.seek(min(start + CHUNK, size))
            fh.readline()
            end = fh.tell()
            out.append((path, start, end, line))
            fh.seek(start)
            line += fh.read(end - start).count(b"\n")
            start = end
    return out


def work(job: tuple[str, int, int, int]) -> bytes:
    path, start, end, line = job
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    out = []
    for n, raw in enumerate(data.split(b"\n")):
        if not raw.strip():
            continue
        deal = orjson.loads(raw)
        verdict, rules = handwritten.check(deal, NOW)
        out.append(orjson.dumps({"deal": deal.get("id"), "record": line + n, "source": path,
                                 "stage": deal.get("stage"), "verdict": verdict,
                                 "violations": [{"rule": r} for r in rules], "warnings": [],
                                 "approvals_needed": []}))
    return b"\n".join(out) + b"\n"


def main() -> None:
    src, dst, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with ProcessPoolExecutor(jobs) as pool, open(dst, "wb") as out:
        for chunk in pool.map(work, ranges(src)):
            out.write(chunk)


if __name__ == "__main__":
    main()
