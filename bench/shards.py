"""N local shards, merged, against one `load --workers N`: the same total rate, the same figures?

    python -m bench.shards [--shards 2] [--rate 2000] [--duration 10s] [--rounds 3]

Sharding is meant for spreading a load test over machines; run on one machine, next to one
`load --workers N` at the same total rate, it must come to the same thing (target: achieved
rate and p99 within 10%). On one receiver (nginx `return 200` when installed, else a minimal
aiohttp app; see bench/ceiling.py):

- A: `webhook-sim load --rate R --duration D --workers N --report-json a.json`;
- B: N processes `webhook-sim load --rate R --duration D --workers 1 --shard k/N --run-id X
  --start-at T --shard-out shard-k.json` (k from 0; T is unix seconds, `--lead` from now),
  started together, then `webhook-sim merge shard-*.json --expect-shards N --report-json
  b.json`.

Compared: rate.achieved_per_s, latency_ms.response.p99 and latency_ms.service.p99 of the two
reports. The machine is shared, so A and B run in turns (`--rounds` times, which goes first
alternating) and the table gives the medians and each round's ratio B/A.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .ceiling import start_receiver

Report = dict[str, Any]  # a JSON report, as `load --report-json` and `merge` write it
WEBHOOK_SIM = [sys.executable, "-m", "dispatcher"]
# (label, path into the JSON report)
METRICS = [
    ("achieved /s", ("rate", "achieved_per_s")),
    ("response p99 ms", ("latency_ms", "response", "p99")),
    ("service p99 ms", ("latency_ms", "service", "p99")),
]
TOLERANCE = 0.10  # the target: within 10%


def pick(report: Report, path: tuple[str, ...]) -> float:
    value: object = report
    for key in path:
        assert isinstance(value, dict), (path, report)
        value = value[key]
    assert isinstance(value, int | float), (path, value)
    return float(value)


def health(report: Report) -> str:
    n, rate = report["notifications"], report["rate"]
    saturated = "yes" if report["sender"]["saturated"] else "no"
    return f"{n['delivered']:,} of {n['scheduled']:,} | {rate['late_starts']:,} | {saturated}"


def load(url: str, args: argparse.Namespace, *extra: str) -> list[str]:
    """`webhook-sim load` at the benchmark's total rate and duration."""
    rate, duration = str(args.rate), args.duration
    return [*WEBHOOK_SIM, "load", "--url", url, "--rate", rate, "--duration", duration, *extra]


def one_process(url: str, args: argparse.Namespace, out: Path) -> Report:
    """A: one `load` spreading the rate over its own N workers."""
    argv = load(url, args, "--workers", str(args.shards), "--report-json", str(out))
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    data: Report = json.loads(out.read_text())
    return data


def sharded(url: str, args: argparse.Namespace, tmp: Path, run_id: str) -> Report:
    """B: N one-worker `load` processes, each its shard of the same run, then `merge`."""
    outs = [tmp / f"{run_id}-shard-{k}.json" for k in range(args.shards)]
    # One instant for all, in unix seconds: `+3s` would count from each process's own start,
    # and the shards' clocks would then be apart by however long the launches took.
    start_at = f"{time.time() + args.lead:.3f}"
    argvs = [
        load(url, args, "--workers", "1", "--shard", f"{k}/{args.shards}", "--run-id", run_id,
             "--start-at", start_at, "--shard-out", str(out))
        for k, out in enumerate(outs)
    ]  # fmt: skip
    procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL) for argv in argvs]
    failed = [(p.args, code) for p in procs if (code := p.wait()) != 0]
    if failed:
        raise SystemExit(f"shards failed: {failed}")
    merged = tmp / f"{run_id}-merged.json"
    subprocess.run(
        [*WEBHOOK_SIM, "merge", *map(str, outs), "--expect-shards", str(args.shards),
         "--report-json", str(merged)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    data: Report = json.loads(merged.read_text())
    # How late each shard's first send went after its instant of the shared schedule, as the
    # shard measured it (the bar: within 250 ms of the start instant).
    data["first_late_ms"] = [
        json.loads(out.read_text())["metrics"]["first_late_s"] * 1000 for out in outs
    ]
    return data


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shards", type=int, default=2, help="N: shards, and A's workers")
    parser.add_argument("--rate", type=float, default=2000, help="total arrivals per second")
    parser.add_argument("--duration", default="10s", help="as `load --duration` takes it")
    parser.add_argument("--rounds", type=int, default=3, help="A and B each, in turns")
    parser.add_argument(
        "--lead",
        type=float,
        default=3.0,
        help="seconds from launching the shards to their common start: long enough for N "
        "interpreters to start and import (default 3)",
    )
    args = parser.parse_args()
    rounds: list[tuple[Report, Report]] = []  # (A, B) per round
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        receiver, url, receiver_name = start_receiver(tmp)
        try:
            for round_ in range(args.rounds):
                run_id = f"bench-shards-{os.getpid()}-{round_ + 1}"
                a_out = tmp / f"a-{round_ + 1}.json"
                # Which goes first alternates, so that neither always gets the busier turn.
                if round_ % 2 == 0:
                    a = one_process(url, args, a_out)
                    b = sharded(url, args, tmp, run_id)
                else:
                    b = sharded(url, args, tmp, run_id)
                    a = one_process(url, args, a_out)
                rounds.append((a, b))
                print(f"round {round_ + 1}: " + "; ".join(
                    f"{label} A {pick(a, path):,.2f} B {pick(b, path):,.2f}"
                    for label, path in METRICS
                ) + f"; A {health(a)}; B {health(b)}", file=sys.stderr, flush=True)  # fmt: skip
        finally:
            receiver.terminate()
            receiver.wait()
    n = args.shards
    print(
        f"Receiver: {receiver_name}. {args.rate:g}/s in total for {args.duration}; A: one `load "
        f"--workers {n}`, B: {n} shards of `load --workers 1` merged; {args.rounds} round(s) "
        "each, in turns; medians.\n"
    )
    print(f"| metric | A: load --workers {n} | B: {n} shards, merged | B/A | each round B/A "
          f"| within {TOLERANCE:.0%} |")  # fmt: skip
    print("|---|---:|---:|---:|---|---|")
    for label, path in METRICS:
        a_values = [pick(a, path) for a, _ in rounds]
        b_values = [pick(b, path) for _, b in rounds]
        a_med, b_med = statistics.median(a_values), statistics.median(b_values)
        ratio = b_med / a_med
        each = ", ".join(f"{b / a:.2f}" for a, b in zip(a_values, b_values, strict=True))
        verdict = "yes" if abs(ratio - 1) <= TOLERANCE else "no"
        print(f"| {label} | {a_med:,.2f} | {b_med:,.2f} | {ratio:.3f} | {each} | {verdict} |")
    # What the medians stand on: a round with arrivals lost or a saturated sender is a round
    # that measured the machine's other load as much as the sender.
    print("\n| round | A delivered of scheduled | A late starts | A saturated "
          "| B delivered of scheduled | B late starts | B saturated |")  # fmt: skip
    print("|---:|---:|---:|---|---:|---:|---|")
    for i, (a, b) in enumerate(rounds, 1):
        print(f"| {i} | {health(a)} | {health(b)} |")
    print("\n| round | each shard's first send after its instant (ms) | within 250 ms |")
    print("|---:|---|---|")
    for i, (_, b) in enumerate(rounds, 1):
        late = b["first_late_ms"]
        verdict = "yes" if max(late) < 250 else "no"
        print(f"| {i} | {', '.join(f'{ms:.1f}' for ms in late)} | {verdict} |")


if __name__ == "__main__":
    main()
