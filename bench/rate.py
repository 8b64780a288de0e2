"""Rate accuracy of `webhook-sim run --max-rate` against asyncio-throttle, as the receiver sees it.

    python -m bench.rate [--rates 1000,5000] [--seconds 5]

A recording receiver (its own process, on loopback) notes the arrival instant of every request
on the system-wide monotonic clock. The same number of requests is sent by webhook-sim (its
Pacer) and by an aiohttp loop gated by asyncio-throttle's Throttler at the same limit. Reported:
achieved rate over the run, the busiest 10 ms slice against its fair share, and how many slices
got more than twice their share.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.request
from collections import Counter

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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
    port = free_port()
    recorder = subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(port)], stdout=subprocess.PIPE, text=True
    )
    assert recorder.stdout is not None
    recorder.stdout.readline()
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        for rate in [int(r) for r in args.rates.split(",")]:
            count = int(rate * args.seconds)
            subprocess.run(
                [sys.executable, "-m", "dispatcher.cli", "run", "--url", base + "/",
                 "--count", str(count), "--max-rate", str(rate), "--concurrency", "500",
                 "--no-adaptive", "--progress-every", "3600"],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            rows.append(("webhook-sim --max-rate (Pacer)", rate, analyse(fetch_times(base), rate)))
            subprocess.run(
                [sys.executable, "-c", THROTTLED, str(rate), str(count), base + "/"], check=True
            )
            rows.append(("asyncio-throttle 1.0.2", rate, analyse(fetch_times(base), rate)))
            for row in rows[-2:]:
                print(row, file=sys.stderr, flush=True)
    finally:
        recorder.terminate()
        recorder.wait()
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
