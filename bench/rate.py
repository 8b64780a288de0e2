"""Rate accuracy of `webhook-sim run --max-rate` and `webhook-sim load --rate` against
asyncio-throttle, as the receiver sees it.

    python -m bench.rate [--rates 1000,5000] [--seconds 5]

A recording receiver (its own process, on loopback) notes the arrival instant of every request:
nginx logging `$msec` when nginx is installed (a C server does not bunch arrivals up the way a
Python one does at 5,000/s), else a small aiohttp app on the system-wide monotonic clock. The
same number of requests is sent by each sender; the peer is an aiohttp loop gated by
asyncio-throttle's Throttler at the same limit. Reported: achieved rate over the run, the
busiest 10 ms slice against its fair share, and how many slices got more than twice their share.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

from .loopback import free_port, nginx_binary, start_nginx

RECORDER = """
import sys, time
from aiohttp import web
times = []
async def hit(request):
    times.append(time.monotonic())
    await request.read()
    return web.Response()
async def dump(request):
    data = list(times); times.clear()
    return web.json_response(data)
app = web.Application()
app.router.add_post("/", hit)
app.router.add_get("/_times", dump)
async def announce(app):
    print("listening", flush=True)
app.on_startup.append(announce)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""

THROTTLED = """
import asyncio, sys, aiohttp
from asyncio_throttle import Throttler
rate, count, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
body = b'{"processId":"8263a268-5388-492a-bca2-28e1ff4a69f0","state":"PROCESS_STATE_FINISHED",'
body += b'"flow":"id","result":"ok"}'
headers = {"Content-Type": "application/json"}
async def main():
    throttler = Throttler(rate_limit=rate, period=1.0)
    slots = asyncio.Semaphore(500)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        async def one():
            try:
                async with http.post(url, data=body, headers=headers) as r:
                    await r.read()
            finally:
                slots.release()
        async with asyncio.TaskGroup() as tg:
            for _ in range(count):
                await slots.acquire()
                async with throttler:
                    tg.create_task(one())
asyncio.run(main())
"""


class Recorder:
    """Where requests land and when; `take()` returns the arrivals since the last call."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._log = tmp / "arrivals.log"
        self._nginx = nginx_binary() is not None
        self.kind = "nginx $msec log" if self._nginx else "aiohttp recorder"
        if self._nginx:
            self.proc: subprocess.Popen[bytes] | subprocess.Popen[str] = start_nginx(
                tmp, self.port, arrivals_log=self._log
            )
            self._seen = 0
        else:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", RECORDER, str(self.port)], stdout=subprocess.PIPE, text=True
            )
            assert self.proc.stdout is not None
            self.proc.stdout.readline()

    def take(self) -> list[float]:
        if not self._nginx:
            return fetch_times(self.base)
        time.sleep(0.3)  # the log's flush interval
        lines = self._log.read_text().split()
        fresh, self._seen = lines[self._seen :], len(lines)
        return [float(t) for t in fresh]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def fetch_times(base: str) -> list[float]:
    with urllib.request.urlopen(base + "/_times") as resp:  # loopback only
        times: list[float] = json.load(resp)
        return times


def analyse(times: list[float], rate: int) -> dict[str, float]:
    times.sort()
    span = times[-1] - times[0]
    slices = Counter(int((t - times[0]) * 100) for t in times)
    share = rate / 100
    return {
        "sent": len(times),
        "achieved_per_s": (len(times) - 1) / span if span > 0 else float("inf"),
        "max_slice": max(slices.values()),
        "share": share,
        "slices_over_2x": sum(1 for n in slices.values() if n > 2 * share),
        "slices": int(span * 100) + 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="1000,5000")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as name:
        recorder = Recorder(Path(name))
        base = recorder.base
        try:
            for rate in [int(r) for r in args.rates.split(",")]:
                count = int(rate * args.seconds)
                subprocess.run(
                    [sys.executable, "-m", "dispatcher.cli", "run", "--url", base + "/",
                     "--count", str(count), "--max-rate", str(rate), "--concurrency", "500",
                     "--no-adaptive", "--progress-every", "3600"],
                    check=True, stdout=subprocess.DEVNULL,
                )  # fmt: skip
                rows.append(("webhook-sim run --max-rate (Pacer)", rate,
                             analyse(recorder.take(), rate)))  # fmt: skip
                subprocess.run(
                    [sys.executable, "-m", "dispatcher.cli", "load", "--url", base + "/",
                     "--rate", str(rate), "--duration", f"{args.seconds}s", "--concurrency", "500",
                     "--workers", "1", "--no-adaptive", "--max-attempts", "1"],
                    check=True, stdout=subprocess.DEVNULL,
                )  # fmt: skip
                rows.append(("webhook-sim load --rate (open model, 1 worker)", rate,
                             analyse(recorder.take(), rate)))  # fmt: skip
                subprocess.run(
                    [sys.executable, "-c", THROTTLED, str(rate), str(count), base + "/"],
                    check=True,
                )
                rows.append(("asyncio-throttle 1.0.2", rate, analyse(recorder.take(), rate)))
                for row in rows[-3:]:
                    print(row, file=sys.stderr, flush=True)
        finally:
            recorder.close()
    print(f"Arrivals recorded by: {recorder.kind}.\n")
    print(
        "| limiter | target /s | sent | achieved /s | error | busiest 10 ms slice "
        "(fair share) | slices > 2x share |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, rate, r in rows:
        error = (r["achieved_per_s"] - rate) / rate
        print(
            f"| {name} | {rate:,} | {r['sent']:,} | {r['achieved_per_s']:,.0f} | {error:+.1%} "
            f"| {r['max_slice']} ({r['share']:g}) | {r['slices_over_2x']} of {r['slices']} |"
        )


if __name__ == "__main__":
    main()
