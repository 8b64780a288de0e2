"""`run`'s engine end to end, through each real HTTP client, against real receivers.

The engine's rules (cap, retries off-slot, AIMD, Retry-After, pacer, durations, stops) are
tested on virtual time in tests/test_engine_rules.py; these prove the same engine works on the
wire: real connections, real faults, and what a receiver counts on its side.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from dispatcher.engine import EngineOptions
from dispatcher.receiver import ReceiverConfig, start_receiver
from dispatcher.traffic import TrafficPlan
from dispatcher.transport import HttpClient

from .conftest import StartReceiver, closed_port
from .helpers import deliver, reached, serving, settings, watched_engine


def plan(count: int, **kw: object) -> TrafficPlan:
    return TrafficPlan(count=count, seed=11, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("client", ["aiohttp", "lean"])
async def test_each_client_delivers_within_the_cap_and_loses_nothing(
    receiver: StartReceiver, client: HttpClient
) -> None:
    r = await receiver(fail_rate=0.3, seed=3, latency_ms=2)
    s = settings(r.url, concurrency=20, max_attempts=6, throttle={"enabled": False})
    m, _ = await deliver(s, plan(300), options=EngineOptions(seed=1, http_client=client))
    assert m.delivered + m.exhausted == m.scheduled == 300
    assert m.delivered > 290
    assert m.peak_in_flight == 20
    assert r.state.peak_in_flight <= 20
    assert m.attempts_total == m.requests_total == r.state.received


async def test_closed_port_exhausts_everything() -> None:
    s = settings(f"http://127.0.0.1:{closed_port()}/", max_attempts=2, concurrency=20)
    m, _ = await deliver(s, plan(50))
    assert m.exhausted == 50
    assert m.attempts_total == 100
    assert m.by_outcome == {"refused": 100}


async def test_receiver_killed_and_restarted_mid_run() -> None:
    config = ReceiverConfig(latency_ms=5)
    first = await start_receiver(config)
    port = int(first.url.rsplit(":", 1)[1])
    s = settings(first.url, concurrency=20, max_attempts=30, interval_s=0.02, max_interval_s=0.1)
    engine, until = watched_engine(s, seed=1)
    some_delivered = until.when(lambda m: m.delivered >= 50)
    some_refused = until.when(lambda m: m.by_outcome["refused"] >= 20)
    run = asyncio.create_task(engine.run(plan(200)))
    await reached(some_delivered)
    await first.close()
    await reached(some_refused)
    second = await start_receiver(config, port=port)
    try:
        m = await run
    finally:
        await second.close()
    assert m.delivered == m.scheduled == 200
    assert m.by_outcome["refused"] >= 20
    assert first.state.accepted + second.state.accepted >= 200


async def test_stop_cancels_requests_on_the_wire_and_loses_nothing(
    receiver: StartReceiver,
) -> None:
    r = await receiver(latency_ms=200, fail_first=1)
    s = settings(r.url, concurrency=20, interval_s=5)
    engine, until = watched_engine(s, grace_s=0.05)
    busy = until.when(lambda m: m.attempts_total >= 40)
    run = asyncio.create_task(engine.run(plan(1000)))
    await reached(busy)
    engine.stop()
    m = await run
    assert m.cancelled > 0
    assert m.delivered + m.exhausted + m.cancelled == m.scheduled
    assert m.scheduled < 1000
    assert m.retries_waiting == 0


async def test_duplicates_and_unknown_statuses_reach_the_receiver(
    receiver: StartReceiver,
) -> None:
    r = await receiver()
    s = settings(r.url, flow="by-client", concurrency=30)
    m, _ = await deliver(s, plan(300, flow="by-client", duplicates=0.2, unknown=0.1))
    assert m.duplicates_sent > 20
    assert m.unknown_sent > 10
    assert r.state.duplicates == m.duplicates_sent
    assert r.state.unknown == m.unknown_sent
    assert r.state.as_json()["unique"] == m.scheduled - m.duplicates_sent
    assert m.delivered == m.scheduled


async def test_reordered_processes_send_2_after_3() -> None:
    seen: list[tuple[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append((body["id"], str(body["status"])))
        return web.Response()

    app = web.Application()
    app.router.add_post("/", record)
    async with serving(app) as url:
        m, _ = await deliver(
            settings(url + "/", flow="by-client", concurrency=1),
            plan(150, flow="by-client", reorder=1.0),
        )
    assert m.reordered_sent > 5
    order = {key: i for i, key in enumerate(seen)}
    late = [pid for pid, status in seen if status == "2" and (pid, "3") in order]
    assert len(late) == m.reordered_sent
    assert all(order[(pid, "3")] < order[(pid, "2")] for pid in late)
