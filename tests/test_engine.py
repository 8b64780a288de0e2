"""`run`'s engine against real receivers: cap, retries off-slot, AIMD, faults, nothing lost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from aiohttp import web

from dispatcher.engine import Engine
from dispatcher.payloads import Notification
from dispatcher.receiver import ReceiverConfig, start_receiver
from dispatcher.traffic import TrafficPlan

from .conftest import StartReceiver, closed_port
from .helpers import deliver, reached, settings, watched_engine


def plan(count: int, **kw: object) -> TrafficPlan:
    return TrafficPlan(count=count, seed=11, **kw)  # type: ignore[arg-type]


async def test_fail_rate_30_percent(receiver: StartReceiver) -> None:
    r = await receiver(fail_rate=0.3, seed=3)
    s = settings(r.url, concurrency=50, max_attempts=6, throttle={"enabled": False})
    m, _ = await deliver(s, plan(2000))
    assert m.scheduled == 2000
    assert m.delivered + m.exhausted == 2000
    assert m.delivered > 1980  # 0.3**6 leaves ~1.5 of 2000 exhausted
    assert r.state.peak_in_flight <= 50
    assert m.peak_in_flight <= 50
    assert m.attempts_total == r.state.received


async def test_limit_falls_under_90_percent_failures_and_climbs_back(
    receiver: StartReceiver,
) -> None:
    r = await receiver(fail_rate=0.9, seed=3, latency_ms=2)
    s = settings(
        r.url,
        concurrency=64,
        max_attempts=50,
        interval_s=0.01,
        max_interval_s=0.05,
        throttle={"window_s": 0.05, "min_samples": 20},
    )
    engine, until = watched_engine(s, seed=1)
    low = until.when(lambda m: m.limit <= 8)
    run = asyncio.create_task(engine.run(plan(3000)))
    await reached(low)
    r.sandbox.config = r.sandbox.config.model_copy(update={"fail_rate": 0.0})
    m = await run
    assert m.min_limit <= 8
    assert m.limit == 64  # recovered to the cap once failures stopped
    limits = [p.limit for p in m.timeline]
    low_at = limits.index(m.min_limit)
    assert max(limits[low_at:]) == 64
    assert m.delivered + m.exhausted + m.cancelled == m.scheduled
    assert r.state.peak_in_flight <= 64


async def test_fail_first_and_latency(receiver: StartReceiver) -> None:
    r = await receiver(fail_first=2, latency_ms=20)
    s = settings(r.url, concurrency=10, max_attempts=3)
    m, _ = await deliver(s, plan(100, flow="by-client"))
    assert m.delivered == m.scheduled
    assert m.attempts_total == 3 * m.scheduled
    assert m.by_outcome["500"] == 2 * m.scheduled
    assert m.peak_in_flight == 10
    assert r.state.peak_in_flight <= 10


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
    run = asyncio.create_task(engine.run(plan(400)))
    await reached(some_delivered)
    await first.close()
    await reached(some_refused)
    second = await start_receiver(config, port=port)
    try:
        m = await run
    finally:
        await second.close()
    assert m.delivered == m.scheduled == 400
    assert m.by_outcome["refused"] >= 20
    assert first.state.accepted + second.state.accepted >= 400


async def test_duplicates_reach_the_receiver_as_duplicates(receiver: StartReceiver) -> None:
    r = await receiver()
    m, _ = await deliver(settings(r.url, concurrency=30), plan(1000, duplicates=0.2))
    assert m.duplicates_sent > 100
    assert r.state.duplicates == m.duplicates_sent
    assert r.state.as_json()["unique"] == m.scheduled - m.duplicates_sent


async def test_unknown_statuses_reach_the_receiver(receiver: StartReceiver) -> None:
    r = await receiver()
    m, _ = await deliver(
        settings(r.url, flow="by-client"), plan(500, unknown=0.1, flow="by-client")
    )
    assert m.unknown_sent > 20
    assert r.state.unknown == m.unknown_sent
    assert m.delivered == m.scheduled


class Recorder:
    """A receiver that remembers the order of everything it was sent."""

    def __init__(self, fail_first_attempt: bool = False) -> None:
        self.seen: list[tuple[str, str]] = []
        self.fail_first_attempt = fail_first_attempt

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = (body["id"], str(body["status"])) if "id" in body else (body["processId"], "")
        first = key not in self.seen
        self.seen.append(key)
        return web.Response(status=500 if first and self.fail_first_attempt else 200)


async def _serve(handler: Recorder) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/", handler.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/"


async def test_reordered_processes_send_2_after_3() -> None:
    recorder = Recorder()
    runner, url = await _serve(recorder)
    try:
        m, _ = await deliver(
            settings(url, flow="by-client", concurrency=1),
            plan(400, flow="by-client", reorder=1.0),
        )
    finally:
        await runner.cleanup()
    assert m.reordered_sent > 20
    order = {key: i for i, key in enumerate(recorder.seen)}
    late = [pid for pid, status in recorder.seen if status == "2" and (pid, "3") in order]
    assert len(late) == m.reordered_sent
    assert all(order[(pid, "3")] < order[(pid, "2")] for pid in late)


async def test_a_notification_waiting_for_a_retry_holds_no_slot() -> None:
    recorder = Recorder(fail_first_attempt=True)
    runner, url = await _serve(recorder)
    try:
        m, _ = await deliver(
            settings(url, flow="by-client", concurrency=1, interval_s=0.2),
            plan(5, flow="by-client"),
        )
    finally:
        await runner.cleanup()
    assert m.delivered == m.scheduled
    # With one slot, every first attempt goes out before any retry (each waits 0.2 s off-slot).
    first_seen = len(set(recorder.seen))
    assert recorder.seen[:first_seen] == list(dict.fromkeys(recorder.seen))


async def test_retry_after_pauses_every_send(receiver: StartReceiver) -> None:
    times: list[float] = []
    answers = iter([503])

    async def handle(request: web.Request) -> web.Response:
        times.append(asyncio.get_running_loop().time())
        status = next(answers, 200)
        return web.Response(status=status, headers={"Retry-After": "5"} if status == 503 else {})

    app = web.Application()
    app.router.add_post("/", handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        m, _ = await deliver(settings(url, concurrency=1, retry_after_max_s=0.3), plan(3))
    finally:
        await runner.cleanup()
    assert m.delivered == 3
    assert times[1] - times[0] >= 0.3  # the pause is a floor (capped at 0.3 s), not a timing


async def test_plan_is_pulled_lazily() -> None:
    r = await start_receiver(ReceiverConfig(latency_ms=10))
    engine = Engine(settings(r.url, concurrency=8))
    ahead: list[int] = []

    def counting(source: TrafficPlan) -> Iterator[Notification]:
        for pulled, note in enumerate(source):
            # Taken from the plan but not yet final: only what is in flight or retrying.
            ahead.append(pulled - engine.metrics.final)
            yield note

    try:
        m = await engine.run(counting(plan(200)))
    finally:
        await r.close()
    assert m.delivered == 200
    assert max(ahead) <= 8


async def test_stop_cancels_what_is_left_and_loses_nothing(receiver: StartReceiver) -> None:
    r = await receiver(latency_ms=300, fail_first=1)
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
