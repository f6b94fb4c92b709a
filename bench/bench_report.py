"""Benchmark ``cycleflow report``: events/s of the streaming pass, 10M extrapolation, memory.

Generates N realistic audit events by simulating a history once (the real engine
and JsonlSink) and replaying it with renamed deals and shifted weeks until N events
are written, then times, in the same run:

* baseline: only ``orjson.loads`` of every line of the same file;
* report: the full pass (``build_report``) plus the HTML rendering.

Usage: ``python bench/bench_report.py [--events 1000000] [--keep FILE]``.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "standard-sales-cycle.yaml"
_AT = re.compile(rb'"at":"(\d{4})-')


def generate(path: Path, events: int) -> None:
    """Write ``events`` audit lines: one simulated year, replayed with new deal ids and times."""
    from cycleflow.analytics.simulate import SimOptions, simulate
    from cycleflow.api import load_policy

    with tempfile.TemporaryDirectory() as tmp:
        simulate(load_policy(POLICY), tmp, SimOptions(deals=2000, days=365, seed=1))
        seed_lines = (Path(tmp) / "audit.jsonl").read_bytes().splitlines(keepends=True)
    written = 0
    copy = 0
    with open(path, "wb") as out:
        while written < events:
            tag = f"-{copy:04d}".encode()
            def later(m: re.Match[bytes], shift: int = copy) -> bytes:
                return b'"at":"%d-' % (int(m.group(1)) + shift)

            chunk = []
            for line in seed_lines[: events - written]:
                # new deal ids per copy (SIM-000123 → C0007-SIM-000123), each copy a year later
                line = line.replace(b'"deal":"SIM-', b'"deal":"C' + tag[1:] + b"-SIM-")
                line = _AT.sub(later, line)
                chunk.append(line)
            out.write(b"".join(chunk))
            written += len(chunk)
            copy += 1


def _count(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def baseline(path: Path) -> float:
    """Seconds to orjson-parse every line of the file (the floor of any JSON pass)."""
    loads = orjson.loads
    began = time.perf_counter()
    with open(path, "rb", buffering=1 << 22) as fh:
        for line in fh:
            loads(line)
    return time.perf_counter() - began


def run_report(path: Path) -> tuple[float, float, int]:
    """Seconds of the pass, seconds of the HTML rendering, and the HTML size in bytes."""
    from cycleflow.analytics.html import render_html
    from cycleflow.analytics.report import ReportOptions, build_report
    from cycleflow.api import load_policy

    policy = load_policy(POLICY)
    began = time.perf_counter()
    report = build_report(str(path), ReportOptions(policy=policy))
    passed = time.perf_counter() - began
    page = render_html(report)
    return passed, time.perf_counter() - began - passed, len(page.encode())


def main() -> int:
    """Generate, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", default=None, help="Keep the generated log at this path.")
    parser.add_argument("--generate-only", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_only:
        generate(Path(args.generate_only), args.events)
        return 0
    workdir = tempfile.mkdtemp(prefix="cf-bench-report-")
    path = Path(args.keep) if args.keep else Path(workdir) / "audit.jsonl"
    began = time.perf_counter()
    if not path.exists() or _count(path) != args.events:
        # in a child process, so that peak memory below is the report's alone
        subprocess.run([sys.executable, __file__, "--events", str(args.events),
                        "--generate-only", str(path)], check=True)
    size = path.stat().st_size
    print(f"log: {args.events:,} events, {size / 1e6:,.0f} MB "
          f"(prepared in {time.perf_counter() - began:.1f} s)")
    base = baseline(path)
    passed, render, html_bytes = run_report(path)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n = args.events
    print(f"baseline (orjson.loads per line): {base:6.2f} s  {n / base:12,.0f} events/s")
    print(f"report pass (build_report):       {passed:6.2f} s  {n / passed:12,.0f} events/s")
    print(f"HTML rendering:                   {render:6.2f} s  ({html_bytes / 1e6:.1f} MB page)")
    print(f"ratio report/baseline:            {passed / base:6.2f}x")
    print(f"extrapolated for 10,000,000 events: {(passed + render) * 10_000_000 / n:,.0f} s "
          f"(+ render once)" if n < 10_000_000 else
          f"10,000,000 events took {passed + render:,.0f} s")
    print(f"peak memory of this process (ru_maxrss, baseline + report): {peak_kb / 1024:,.0f} MB")
    if not args.keep:
        os.remove(path)
        os.rmdir(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
