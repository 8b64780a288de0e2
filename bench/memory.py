"""Memory of `webhook-sim run` as the process count grows, against a peer that builds its plan
as a list up front (the obvious implementation). Real sends to a sandbox receiver on loopback.

    python -m bench.memory [--counts 10000,100000,1000000] [--eager 1000000]

Prints a markdown table: peak RSS (from wait4's ru_maxrss) of each sender process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EAGER = """
import asyncio, sys
from dispatcher.engine import Engine
from dispatcher.settings import Settings
from dispatcher.traffic import TrafficPlan
count, url = int(sys.argv[1]), sys.argv[2]
plan = list(TrafficPlan(count=count, seed=1))  # the whole plan in memory first
settings = Settings.model_validate({"url": url, "concurrency": 100})
m = asyncio.run(Engine(settings).run(plan))
print(m.delivered, m.scheduled)
"""


def start_receiver() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatcher.cli", "receiver", "--port", "0", "--quiet"],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    match = re.search(r"http://127\.0\.0\.1:\d+", proc.stderr.readline())
    assert match, "receiver did not start"
    return proc, match.group(0)


def measure(argv: list[str]) -> tuple[float, float, str]:
    """Run a sender to completion; return (peak RSS in MB, seconds, its stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{argv[:5]} exited {proc.returncode}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="10000,100000,1000000")
    parser.add_argument("--eager", type=int, default=1_000_000)
    args = parser.parse_args()
    rows = []
    for count in [int(c) for c in args.counts.split(",")]:
        receiver, url = start_receiver()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                report = Path(tmp) / "r.json"
                rss, seconds, _ = measure(
                    [sys.executable, "-m", "dispatcher.cli", "run", "--url", url,
                     "--count", str(count), "--concurrency", "100", "--seed", "1",
                     "--report-json", str(report), "--progress-every", "3600"]
                )  # fmt: skip
                n = json.loads(report.read_text())["notifications"]
        finally:
            receiver.terminate()
            receiver.wait()
        rows.append(("webhook-sim run (lazy plan)", count, rss, seconds, n["delivered"]))
        print(rows[-1], file=sys.stderr, flush=True)
    if args.eager:
        receiver, url = start_receiver()
        try:
            rss, seconds, out = measure([sys.executable, "-c", EAGER, str(args.eager), url])
        finally:
            receiver.terminate()
            receiver.wait()
        rows.append(
            ("peer: same engine, plan as a list", args.eager, rss, seconds, int(out.split()[0]))
        )
        print(rows[-1], file=sys.stderr, flush=True)
    print("| sender | processes | delivered | peak RSS (MB) | wall time (s) |")
    print("|---|---:|---:|---:|---:|")
    for name, count, rss, seconds, delivered in rows:
        print(f"| {name} | {count:,} | {delivered:,} | {rss:.0f} | {seconds:.0f} |")
    lazy = {count: rss for name, count, rss, _, _ in rows if name.startswith("webhook-sim")}
    if len(lazy) > 1:
        small, big = min(lazy), max(lazy)
        print(f"\nRSS ratio {big:,} / {small:,} processes: {lazy[big] / lazy[small]:.2f}x")
    if args.eager and args.eager in lazy:
        print(f"peer / webhook-sim at {args.eager:,}: {rows[-1][2] / lazy[args.eager]:.1f}x")


if __name__ == "__main__":
    main()
