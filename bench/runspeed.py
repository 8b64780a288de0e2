"""`webhook-sim run` with full accounting against Locust FastHttpUser, on one fast receiver.

    python -m bench.runspeed [--count 50000] [--rounds 3] [--seconds 10]
                             [--locust PATH-TO-locust]

`run` is the command that keeps every notification's account (retries on, adaptive throttle
on, up to 5 attempts each): this asks whether it, not just `load --rate max`, gets past Locust.
Rows, each its own process and all against the same receiver (nginx `return 200` when
installed, else a minimal aiohttp app; see bench/ceiling.py), 500 in flight each:

- `webhook-sim run --count C --concurrency 500` with `--workers 1`, with the default workers
  (one per core) and with `--http-client aiohttp --workers 1` (how `run` sent before);
- Locust FastHttpUser, one process, 500 users with no wait time, for `--seconds`.

A `run` row's rate is notifications.delivered / duration_s of its JSON report (the sending
alone, not the interpreter's start-up); Locust's is the aggregate Requests/s of its stats CSV.
The machine is shared, so every row runs once per round, in an order that turns round by round,
and the table gives medians and each round's ratio to that round's Locust.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .ceiling import locust, start_receiver

T = TypeVar("T")
Measure = Callable[[Path, str], tuple[float, float]]  # (tmp, url) -> (per s, CPU µs each)


@dataclass
class Row:
    label: str
    measure: Measure


def run_row(count: int, workers: int | None, client: str) -> Measure:
    def measure(tmp: Path, url: str) -> tuple[float, float]:
        report = tmp / "run.json"
        argv = [sys.executable, "-m", "dispatcher", "run", "--url", url, "--count", str(count),
                "--concurrency", "500", "--report-json", str(report), "--progress-every", "3600",
                "--http-client", client]  # fmt: skip
        if workers is not None:
            argv += ["--workers", str(workers)]
        _, cpu_s = children_cpu(lambda: subprocess.run(argv, check=True, stdout=subprocess.DEVNULL))
        data = json.loads(report.read_text())
        # Full accounting is the point: retries and the adaptive throttle must be on.
        settings = data["settings"]
        if settings["max_attempts"] < 2 or not settings["throttle"]["enabled"]:
            raise SystemExit(f"{argv}: not full accounting: {settings}")
        expected = workers or os.cpu_count() or 1
        if data.get("workers", 1) != expected:
            raise SystemExit(f"{argv}: ran on {data.get('workers')} workers, not {expected}")
        delivered = data["notifications"]["delivered"]
        if delivered != count:
            # Every row must have done the same work, or the rates do not compare.
            raise SystemExit(f"{argv}: delivered {delivered} of {count}: {data['notifications']}")
        return delivered / data["duration_s"], cpu_s / delivered * 1e6

    return measure


def locust_row(locust_bin: str, seconds: float) -> Measure:
    def measure(tmp: Path, url: str) -> tuple[float, float]:
        rate, cpu_s = children_cpu(lambda: locust(locust_bin, url, seconds, tmp, 1))
        with open(tmp / "locust1_stats.csv") as handle:  # where bench.ceiling.locust wrote it
            total = next(
                int(row["Request Count"])
                for row in csv.DictReader(handle)
                if row["Name"] == "Aggregated"
            )
        return rate, cpu_s / max(1, total) * 1e6

    return measure


def children_cpu(call: Callable[[], T]) -> tuple[T, float]:
    """What `call` returns and the CPU seconds its child processes used: on a shared machine
    the CPU cost of a delivery moves far less than deliveries per second do."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    got = call()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return got, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=50_000, help="notifications per run row")
    parser.add_argument("--rounds", type=int, default=3, help="every row once per round")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long Locust runs")
    default_locust = shutil.which("locust") or "/tmp/locust-venv/bin/locust"
    parser.add_argument("--locust", default=default_locust, help="the locust executable")
    args = parser.parse_args()
    if not Path(args.locust).exists():
        raise SystemExit(
            f"no locust at {args.locust}: python3 -m venv /tmp/locust-venv && "
            "/tmp/locust-venv/bin/pip install locust"
        )
    cores = os.cpu_count() or 1
    rows = [
        Row("webhook-sim run (1 worker)", run_row(args.count, 1, "lean")),
        Row(f"webhook-sim run (default workers: {cores})", run_row(args.count, None, "lean")),
        Row("webhook-sim run --http-client aiohttp (1 worker)", run_row(args.count, 1, "aiohttp")),
        Row("Locust FastHttpUser (1 process)", locust_row(args.locust, args.seconds)),
    ]
    got: dict[str, list[tuple[float, float]]] = {row.label: [] for row in rows}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        receiver, url, receiver_name = start_receiver(tmp)
        try:
            for round_ in range(args.rounds):
                # Turn the order each round so that no row always gets the same slot.
                turn = round_ % len(rows)
                for row in rows[turn:] + rows[:turn]:
                    got[row.label].append(row.measure(tmp, url))
                    rate, cpu = got[row.label][-1]
                    print(f"round {round_ + 1}: {row.label}: {rate:,.0f}/s, {cpu:.0f} µs CPU",
                          file=sys.stderr, flush=True)  # fmt: skip
        finally:
            receiver.terminate()
            receiver.wait()
    base = got[rows[-1].label]
    print(
        f"Receiver: {receiver_name}. {args.count:,} notifications per `run` row, Locust for "
        f"{args.seconds:g} s; 500 in flight each; {args.rounds} round(s), medians.\n"
    )
    print("| sender | deliveries/s | CPU µs/delivery | vs Locust | vs Locust, each round |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        runs = got[row.label]
        rate = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        ratios = [r[0] / b[0] for r, b in zip(runs, base, strict=True)]
        each = ", ".join(f"{x:.2f}" for x in ratios)
        print(f"| {row.label} | {rate:,.0f} | {cpu:.0f} | {statistics.median(ratios):.2f}x "
              f"| {each} |")  # fmt: skip


if __name__ == "__main__":
    main()
