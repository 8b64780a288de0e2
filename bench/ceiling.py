"""Ceiling and latency fidelity: webhook-sim against Locust, hey and wrk, on one fast receiver.

    python -m bench.ceiling [--seconds 10] [--locust PATH-TO-locust]
                            [--baseline DIR [--rounds 3]]

The receiver is nginx answering `return 200` when nginx is installed, else a minimal aiohttp
app (its own process). Every tool keeps 500 requests in flight and POSTs the same JSON body.
Then, at 1,000/s, webhook-sim's median service time is compared with hey's (rate-limited) on the
same receiver. Tools that are not installed are left out of the table, and said so.

`--baseline DIR` also runs another version of webhook-sim (DIR holds its `dispatcher` package,
e.g. a copy with an older HTTP client) in turns with this one, `--rounds` times each way, and
reports the ratio of the two round by round: on a shared machine only figures taken side by
side compare. With valgrind installed, it also counts the CPU instructions one request costs
in each version's HTTP layer (Transport and the lean client, on uvloop): a count that other
work on the machine does not move.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .loopback import free_port, nginx_binary, start_nginx, wait_listening

BODY = (
    '{"processId":"8263a268-5388-492a-bca2-28e1ff4a69f0","state":"PROCESS_STATE_FINISHED",'
    '"flow":"id","result":"ok"}'
)
AIOHTTP_RECEIVER = """
import sys
from aiohttp import web
async def ok(request):
    await request.read()
    return web.Response(text="ok")
app = web.Application()
app.router.add_route("*", "/{tail:.*}", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""
LOCUSTFILE = f"""
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser
BODY = {BODY!r}
class Platform(FastHttpUser):
    wait_time = constant(0)
    @task
    def notify(self):
        self.client.post("/", data=BODY, headers={{"Content-Type": "application/json"}})
"""
# N requests through Transport(client="lean"), 50 at a time: run under valgrind by `instructions`.
CLIENT_LOOP = f"""
import asyncio, sys, uvloop
from dispatcher.transport import Transport
async def main(n, url):
    async with Transport(timeout_s=600, insecure=True, user_agent="ws", client="lean") as t:
        async def sender():
            nonlocal n
            while n > 0:
                n -= 1
                resp = await t.request("POST", url, headers={{"Content-Type": "application/json"}},
                                       data={BODY!r})
                assert resp.status == 200, resp
        await asyncio.gather(*(sender() for _ in range(50)))
uvloop.run(main(int(sys.argv[1]), sys.argv[2]))
"""
WRK_LUA = f"""
wrk.method = "POST"
wrk.body = {json.dumps(BODY)}
wrk.headers["Content-Type"] = "application/json"
"""


def start_receiver(tmp: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    port = free_port()
    if nginx_binary():
        return start_nginx(tmp, port), f"http://127.0.0.1:{port}/", "nginx return 200"
    proc = subprocess.Popen([sys.executable, "-c", AIOHTTP_RECEIVER, str(port)])
    wait_listening(port)
    return proc, f"http://127.0.0.1:{port}/", "aiohttp minimal"


def webhook_sim(
    url: str,
    seconds: float,
    workers: int,
    tmp: Path,
    rate: str = "max",
    client: str = "lean",
    tree: Path | None = None,
) -> dict:  # type: ignore[type-arg]
    """One `load` run; `tree` is a directory whose `dispatcher` package runs instead of ours
    (it comes first on the path of the run and of its spawned workers)."""
    report = tmp / f"ws-{workers}-{rate}-{client}.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "dispatcher.cli", "load", "--url", url, "--rate", rate,
         "--duration", f"{seconds}s", "--concurrency", "500", "--workers", str(workers),
         "--max-attempts", "1", "--no-adaptive", "--report-json", str(report),
         "--http-client", client],
        check=True, stdout=subprocess.DEVNULL, cwd=tree,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    data: dict = json.loads(report.read_text())  # type: ignore[type-arg]
    # CPU time of the run and its workers (reaped by it): on a shared machine the cost of a
    # delivery in CPU time moves far less than deliveries per second do.
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    data["cpu_us_per_delivery"] = cpu_s / max(1, data["notifications"]["delivered"]) * 1e6
    return data


def hey(url: str, seconds: float, extra: list[str]) -> str:
    return subprocess.run(
        ["hey", "-z", f"{seconds}s", "-m", "POST", "-T", "application/json", "-d", BODY,
         *extra, url],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def wrk(url: str, seconds: float, tmp: Path) -> float:
    script = tmp / "post.lua"
    script.write_text(WRK_LUA)
    out = subprocess.run(
        ["wrk", "-t2", "-c500", f"-d{int(seconds)}s", "-s", str(script), url],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def locust(locust_bin: str, url: str, seconds: float, tmp: Path, processes: int) -> float:
    locustfile = tmp / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    prefix = tmp / f"locust{processes}"
    argv = [locust_bin, "-f", str(locustfile), "--headless", "-u", "500", "-r", "500",
            "-t", f"{int(seconds)}s", "--host", url.rstrip("/"), "--csv", str(prefix),
            "--only-summary", "--loglevel", "ERROR"]  # fmt: skip
    if processes > 1:
        argv += ["--processes", str(processes)]
    subprocess.run(argv, check=False, capture_output=True, text=True, timeout=seconds + 60)
    with open(f"{prefix}_stats.csv") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                return float(row["Requests/s"])
    raise SystemExit("locust wrote no aggregate row")


Pair = tuple[float, float, float, float]  # this /s, baseline /s, this CPU µs, baseline CPU µs


def side_by_side(
    url: str, seconds: float, workers: int, tmp: Path, args: argparse.Namespace
) -> list[Pair]:
    """Deliveries/s and CPU µs per delivery of this version and the baseline, `args.rounds`
    times; which goes first alternates, so that neither always gets the busier turn."""
    runs = []
    for round_ in range(args.rounds):
        order = [None, args.baseline] if round_ % 2 == 0 else [args.baseline, None]
        got = {tree: webhook_sim(url, seconds, workers, tmp, tree=tree) for tree in order}
        this, base = got[None], got[args.baseline]
        runs.append((this["rate"]["achieved_per_s"], base["rate"]["achieved_per_s"],
                     this["cpu_us_per_delivery"], base["cpu_us_per_delivery"]))  # fmt: skip
        print(f"round {round_ + 1}, {workers} worker(s): {runs[-1]}", file=sys.stderr, flush=True)
    return runs


def instructions(url: str, tree: Path | None) -> float:
    """CPU instructions per request in the HTTP layer of `tree` (None: ours), counted by
    valgrind: the difference between 5,000 and 1,000 requests, so start-up cancels out."""

    def count(n: int) -> int:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
             sys.executable, "-c", CLIENT_LOOP, str(n), url],
            check=True, capture_output=True, text=True, cwd=tree,
        )  # fmt: skip
        match = re.search(r"Collected : (\d+)", out.stderr)
        assert match, out.stderr[-2000:]
        return int(match.group(1))

    return (count(5000) - count(1000)) / 4000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    default_locust = shutil.which("locust") or "/tmp/locust-venv/bin/locust"
    parser.add_argument("--locust", default=default_locust)
    parser.add_argument("--baseline", type=Path, help="a directory holding another dispatcher")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.baseline and not (args.baseline / "dispatcher" / "__init__.py").exists():
        raise SystemExit(f"--baseline {args.baseline}: no dispatcher package there")
    seconds = args.seconds
    rows: list[tuple[str, float]] = []
    missing: list[str] = []
    pairs: dict[int, list[Pair]] = {}  # workers -> one per round
    counted: dict[str, float] = {}  # instructions per request: this version, baseline
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        receiver, url, receiver_name = start_receiver(tmp)
        try:
            cores = os.cpu_count() or 1
            data = webhook_sim(url, seconds, 1, tmp, client="aiohttp")
            rows.append(("webhook-sim load --rate max --http-client aiohttp (1 worker)",
                         data["rate"]["achieved_per_s"]))  # fmt: skip
            if args.baseline and shutil.which("valgrind"):
                counted = {"this": instructions(url, None),
                           "baseline": instructions(url, args.baseline)}  # fmt: skip
                print(counted, file=sys.stderr, flush=True)
            for workers in sorted({1, cores}):
                label = f"webhook-sim load --rate max ({workers} worker{'s' * (workers > 1)})"
                if args.baseline:
                    pairs[workers] = side_by_side(url, seconds, workers, tmp, args)
                    for i, name in enumerate((label, f"{label}, baseline")):
                        rows.append((name, statistics.median(p[i] for p in pairs[workers])))
                        print(rows[-1], file=sys.stderr, flush=True)
                    continue
                data = webhook_sim(url, seconds, workers, tmp)
                rows.append((label, data["rate"]["achieved_per_s"]))
                print(rows[-1], file=sys.stderr, flush=True)
            if Path(args.locust).exists():
                for processes in sorted({1, cores}):
                    label = f"Locust FastHttpUser ({processes} process{'es' * (processes > 1)})"
                    rows.append((label, locust(args.locust, url, seconds, tmp, processes)))
                    print(rows[-1], file=sys.stderr, flush=True)
            else:
                missing.append("locust")
            if shutil.which("hey"):
                out = hey(url, seconds, ["-c", "500"])
                match = re.search(r"Requests/sec:\s+([\d.]+)", out)
                assert match, out
                rows.append(("hey -c 500", float(match.group(1))))
            else:
                missing.append("hey")
            if shutil.which("wrk"):
                rows.append(("wrk -t2 -c500", wrk(url, seconds, tmp)))
            else:
                missing.append("wrk")
            # Latency fidelity at 1,000/s on the same receiver.
            fidelity = []
            data = webhook_sim(url, seconds, 1, tmp, rate="1000")
            service = data["latency_ms"]["service"]
            fidelity.append(("webhook-sim load --rate 1000", service["p50"], service["p99"],
                             data["rate"]["achieved_per_s"]))  # fmt: skip
            if shutil.which("hey"):
                out = hey(url, seconds, ["-c", "10", "-q", "100"])
                p50 = re.search(r"50%+ in ([\d.]+) secs", out)
                p99 = re.search(r"99%+ in ([\d.]+) secs", out)
                rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
                if not (p50 and p99 and rps):
                    raise SystemExit(f"could not read hey's output:\n{out}")
                fidelity.append(("hey -c 10 -q 100 (1,000/s)", float(p50.group(1)) * 1000,
                                 float(p99.group(1)) * 1000, float(rps.group(1))))  # fmt: skip
        finally:
            receiver.terminate()
            receiver.wait()
    locust_1 = next((v for n, v in rows if n.startswith("Locust") and "(1 " in n), None)
    hey_rate = next((v for n, v in rows if n.startswith("hey")), None)
    print(f"Receiver: {receiver_name}, {seconds:g} s per tool, 500 in flight.\n")
    print("| sender | deliveries/s | vs Locust (1 process) | vs hey |")
    print("|---|---:|---:|---:|")
    for name, value in rows:
        vs_locust = f"{value / locust_1:.2f}x" if locust_1 else "-"
        vs_hey = f"{value / hey_rate:.2f}x" if hey_rate else "-"
        print(f"| {name} | {value:,.0f} | {vs_locust} | {vs_hey} |")
    if missing:
        print(f"\nNot installed, left out: {', '.join(missing)}.")
    if pairs:
        print(f"\nThis version against the baseline ({args.baseline}), run in turns:\n")
        print("| workers | round | this /s | baseline /s | ratio | this CPU µs/delivery "
              "| baseline CPU µs/delivery | CPU ratio |")  # fmt: skip
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for workers, runs in pairs.items():
            for i, (this, base, this_cpu, base_cpu) in enumerate(runs, 1):
                print(
                    f"| {workers} | {i} | {this:,.0f} | {base:,.0f} | {this / base:.3f} "
                    f"| {this_cpu:.1f} | {base_cpu:.1f} | {this_cpu / base_cpu:.3f} |"
                )
            rate = statistics.median(r[0] / r[1] for r in runs)
            cpu = statistics.median(r[2] / r[3] for r in runs)
            print(f"| {workers} | median | | | {rate:.3f} | | | {cpu:.3f} |")
    if counted:
        print("\n| HTTP layer (Transport + lean client) | CPU instructions per request |")
        print("|---|---:|")
        print(f"| this version | {counted['this']:,.0f} |")
        print(f"| baseline | {counted['baseline']:,.0f} |")
        print(f"| ratio | {counted['this'] / counted['baseline']:.3f} |")
    print("\n| sender at 1,000/s | p50 ms | p99 ms | achieved /s |")
    print("|---|---:|---:|---:|")
    for name, p50, p99, achieved in fidelity:
        print(f"| {name} | {p50:.2f} | {p99:.2f} | {achieved:,.0f} |")
    if len(fidelity) == 2:
        print(f"\np50 difference: {abs(fidelity[0][1] - fidelity[1][1]):.2f} ms")


if __name__ == "__main__":
    main()
