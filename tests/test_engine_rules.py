"""The engine's rules on virtual time: a scripted in-memory receiver, no socket, no real wait.

Every run here goes through `deliver`, which runs the engine on a VirtualTimeLoop with a
MemoryTransport and checks what must hold for any run: every notification taken from the plan
ends delivered, exhausted or cancelled, none has more attempts than allowed, nothing is left in
flight. Instants (`at`, `duration_s`) are exact: the clock moves only from timer to timer.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from dispatcher.backoff import RetryIn, RetryPolicy
from dispatcher.delivery import AttemptResult
from dispatcher.engine import Admission, Engine, EngineOptions, LiveFeed, Outcome
from dispatcher.engine.feeds import Scheduled
from dispatcher.errors import ConnectionRefused, RequestTimeout
from dispatcher.metrics import Metrics, summarize_ms
from dispatcher.payloads import Notification, PayloadFactory, notification
from dispatcher.saturation import judge_sender
from dispatcher.settings import Settings
from dispatcher.testing import virtualtime
from dispatcher.testing.memory import (
    Answer,
    Failure,
    MemoryTransport,
    Received,
    Reply,
    Script,
    per_notification,
    replies,
)
from dispatcher.throttle import AimdParams, WindowStats

OK = Answer(200)
URL = "http://receiver.test/hook"


def settings(**overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "url": URL,
        "max_attempts": 3,
        "interval_s": 0.01,
        "jitter": 0,
        "timeout_s": 5,
        "throttle": {"enabled": False},
    }
    data.update(overrides)
    return Settings.model_validate(data)


def plan(count: int) -> list[Notification]:
    factory = PayloadFactory(7)
    return [notification(factory.by_client()) for _ in range(count)]


def process(request: Received) -> str:
    return str(request.json()["id"])


@dataclass
class Log:
    """An observer keeping what the engine told it, with the virtual instant."""

    attempts: list[tuple[float, str, float | None]] = field(default_factory=list)
    finals: list[tuple[float, Outcome, int]] = field(default_factory=list)
    engine: Engine | None = None

    def on_attempt(
        self, note: Notification, result: AttemptResult, retry_in_s: float | None
    ) -> None:
        self.attempts.append((asyncio.get_running_loop().time(), result.outcome, retry_in_s))

    def on_final(self, note: Notification, outcome: Outcome, attempts: int) -> None:
        self.finals.append((asyncio.get_running_loop().time(), outcome, attempts))


@dataclass
class Run:
    metrics: Metrics
    transport: MemoryTransport
    log: Log

    @property
    def at(self) -> list[float]:
        """When each request reached the receiver."""
        return [r.at for r in self.transport.received]


During = Callable[[Engine], Coroutine[Any, Any, None]]


def deliver(
    s: Settings,
    notes: Iterable[Notification] | Callable[[Engine], Iterable[Notification]],
    script: Script | Reply = OK,
    *,
    during: During | None = None,
    grace_s: float = 2.0,
    observer: Log | None = None,
    **run: Any,
) -> Run:
    """Run the engine on virtual time on `notes` (or on what `notes(engine)` returns: a live
    feed...); `during(engine)` runs beside it (to stop it, feed it)."""
    log = observer or Log()

    async def main() -> Run:
        loop = asyncio.get_running_loop()
        transport = MemoryTransport(script, timeout_s=s.timeout_s)
        options = EngineOptions(grace_s=grace_s, seed=1, clock=loop.time)
        engine = Engine(s, options=options, observer=log, transport=transport)
        log.engine = engine
        async with asyncio.TaskGroup() as tg:
            beside = tg.create_task(during(engine)) if during else None
            m = await engine.run(notes(engine) if callable(notes) else notes, **run)
            if beside is not None:
                beside.cancel()
        return Run(m, transport, log)

    result = virtualtime.run(main())
    m = result.metrics
    assert m.delivered + m.exhausted + m.cancelled == m.scheduled
    assert m.max_attempts_per_notification <= s.max_attempts
    assert m.in_flight == 0
    assert m.retries_waiting == 0
    return result


def at(when: float, action: Callable[[Engine], object]) -> During:
    async def later(engine: Engine) -> None:
        await virtualtime.sleep_until(when)
        action(engine)

    return later


# The in-flight cap ---------------------------------------------------------------------------


def test_in_flight_reaches_the_cap_and_never_goes_above_it() -> None:
    run = deliver(settings(concurrency=5), plan(40), Answer(delay_s=0.1))
    m = run.metrics
    assert m.delivered == 40
    assert m.peak_in_flight == run.transport.peak_in_flight == 5
    assert m.duration_s == pytest.approx(0.8)  # 8 waves of 5, back to back


def test_a_notification_waiting_for_a_retry_holds_no_slot() -> None:
    first_fails = replies(Answer(500), then=Answer(delay_s=0.1))
    run = deliver(settings(concurrency=1, interval_s=10), plan(5), first_fails)
    # With one slot, the four others go out while the first waits 10 s for its retry.
    assert run.at == pytest.approx([0, 0, 0.1, 0.2, 0.3, 10.0])
    assert process(run.transport.received[0]) == process(run.transport.received[-1])
    assert run.metrics.delivered == 5


def test_attempts_never_exceed_max_attempts() -> None:
    run = deliver(settings(max_attempts=4, concurrency=3), plan(10), Failure(ConnectionRefused))
    m = run.metrics
    assert m.exhausted == 10
    assert m.attempts_total == m.requests_total == 40
    assert m.by_outcome == {"refused": 40}
    assert m.max_attempts_per_notification == 4
    per_process = Counter(process(request) for request in run.transport.received)
    assert set(per_process.values()) == {4}
    assert [wait for _, _, wait in run.log.attempts].count(None) == 10  # the last of each


# AIMD ------------------------------------------------------------------------------------------


def test_limit_falls_under_90_percent_failures_and_climbs_back_to_the_cap() -> None:
    rng = random.Random(3)
    held: list[tuple[float, int]] = []  # (instant, requests the receiver held) at each arrival
    transports: list[MemoryTransport] = []

    def receiver(request: Received) -> Reply:
        held.append((request.at, transports[0].in_flight + 1))
        if request.at < 0.3:  # 90% failures, then none
            return Answer(500 if rng.random() < 0.9 else 200, delay_s=0.01)
        return Answer(200, delay_s=0.03)

    def notes(engine: Engine) -> list[Notification]:
        assert isinstance(engine.transport, MemoryTransport)
        transports.append(engine.transport)
        return plan(1000)

    s = settings(
        concurrency=64,
        max_attempts=50,
        interval_s=0.01,
        max_interval_s=0.05,
        jitter=0.2,
        throttle={"window_s": 0.05, "min_samples": 5},
    )
    m = deliver(s, notes, receiver).metrics
    assert m.min_limit == 1
    assert m.limit == 64  # recovered to the cap once failures stopped
    limits = [p.limit for p in m.timeline]
    low_at = limits.index(m.min_limit)
    assert max(limits[low_at:]) == 64
    assert limits[low_at:] == sorted(limits[low_at:])  # climbing back, window after window
    # The limit is what the receiver gets: one request at a time while it was cut to 1.
    assert max(n for t, n in held if 0.35 <= t < 0.45) == 1
    assert max(n for _, n in held) == 64
    assert m.delivered == m.scheduled == 1000


# Retry-After -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("cap_s", "pause_s"), [(60, 5.0), (2, 2.0)])
def test_retry_after_pauses_every_send_within_its_cap(cap_s: float, pause_s: float) -> None:
    busy = replies(Answer(429, {"Retry-After": "5"}), then=Answer(delay_s=0.1))
    run = deliver(settings(concurrency=10, retry_after_max_s=cap_s), plan(20), busy)
    assert run.metrics.delivered == 20
    assert run.at[:10] == [0.0] * 10  # the first wave was out before the 429 came back
    # Then nothing at all until the pause is over, the retry of the 429 included.
    assert min(t for t in run.at if t > 0) == pytest.approx(pause_s)
    _, outcome, retry_in = run.log.attempts[0]
    assert (outcome, retry_in) == ("429", pause_s)


def test_a_retry_after_shorter_than_the_backoff_leaves_the_backoff() -> None:
    policy = RetryPolicy(5, interval_s=2, max_interval_s=60, jitter=0, retry_after_max_s=60)
    assert policy.decide(1, False, 0.5, lambda: 0.0) == RetryIn(2.0, pause_s=0.5)
    assert policy.decide(1, False, 30, lambda: 0.0) == RetryIn(30.0, pause_s=30)


# The pacer -------------------------------------------------------------------------------------


def test_the_pacer_spaces_starts_one_period_apart() -> None:
    run = deliver(settings(concurrency=5, max_rate=10), plan(10))
    # One period (0.1 s) apart; the second 5 ms early, the pacer's tolerance for a late caller.
    assert run.at == pytest.approx(
        [0, 0.095, 0.195, 0.295, 0.395, 0.495, 0.595, 0.695, 0.795, 0.895]
    )
    assert run.metrics.peak_in_flight == 1  # each answered before the next turn


def test_a_stop_does_not_wait_for_the_pacer() -> None:
    run = deliver(settings(max_rate=0.01), plan(5), during=at(1.0, Engine.stop))
    m = run.metrics
    assert (m.delivered, m.cancelled, m.scheduled) == (1, 1, 2)  # the second waited 100 s
    assert m.duration_s == 1.0


# The open model --------------------------------------------------------------------------------


def test_arrivals_that_find_every_slot_busy_are_queued_and_timed_from_their_instant() -> None:
    schedule = [0.0, 0.1, 0.2, 0.3, 0.4]
    run = deliver(settings(concurrency=1), plan(5), Answer(delay_s=1.0), schedule=schedule)
    m = run.metrics
    assert run.at == pytest.approx([0, 1, 2, 3, 4])
    assert m.arrivals == 5
    # Every slot was taken from each arrival's instant until it started: the receiver's doing,
    # none of it the sender's (the first arrival after the slot frees counted as a late start,
    # blaming the sender, until the dispatcher recorded how long it had found every slot busy).
    assert m.queued == 4
    assert m.late_starts == 0
    service, response = summarize_ms(m.latency), summarize_ms(m.response)
    assert service["max"] == pytest.approx(1000, rel=0.01)
    assert response["max"] == pytest.approx(4600, rel=0.01)  # due at 0.4, answered at 5.0


def test_a_sender_that_starts_late_with_a_slot_free_is_flagged() -> None:
    class Blocking(Log):
        """Holds the event loop for 50 ms after every attempt, as a starved sender does."""

        def on_attempt(self, note: Notification, result: AttemptResult, r: float | None) -> None:
            loop = asyncio.get_running_loop()
            assert isinstance(loop, virtualtime.VirtualTimeLoop)
            loop.advance(0.05)

    schedule = [i * 0.02 for i in range(100)]
    run = deliver(settings(concurrency=50), plan(100), schedule=schedule, observer=Blocking())
    m = run.metrics
    assert m.late_starts >= 90  # late, and with a slot free: the sender's own doing
    assert m.queued == 0
    lag_p99 = summarize_ms(m.loop_lag)["p99"]
    assert lag_p99 is not None
    assert lag_p99 > 40  # the 10 ms probe ran that much late
    verdict = judge_sender(
        seconds=[(second.arrivals, second.late) for second in m.seconds[1:]],
        lag_p99_ms=lag_p99,
        cap=m.cap,
        min_limit=m.min_limit,
        queued=m.queued,
    )
    assert verdict.saturated


def test_the_duration_bounds_a_run_whose_receiver_hangs() -> None:
    """Every slot hangs: arrivals due while they do are dropped, what is in flight is cancelled
    at the graceful stop's deadline, and the rates divide by the duration."""
    schedule = [i * 0.01 for i in range(30)]
    run = deliver(
        settings(concurrency=5, timeout_s=60),
        plan(30),
        Answer(delay_s=1000),
        schedule=schedule,
        duration_s=0.3,
        graceful_stop_s=0.2,
    )
    m = run.metrics
    assert (m.scheduled, m.cancelled, m.dropped) == (5, 5, 25)
    assert m.by_outcome == {"cancelled": 5}
    assert m.duration_s == pytest.approx(0.5)
    assert m.arrival_window_s == pytest.approx(0.3)


def test_retries_due_after_the_graceful_stop_are_cancelled_at_once() -> None:
    schedule = [i * 0.02 for i in range(10)]
    run = deliver(
        settings(interval_s=30, max_interval_s=60, max_attempts=5),
        plan(10),
        Answer(500, delay_s=0.01),
        schedule=schedule,
        duration_s=0.2,
        graceful_stop_s=5,
    )
    m = run.metrics
    assert (m.scheduled, m.attempts_total, m.cancelled) == (10, 10, 10)
    assert m.duration_s == pytest.approx(0.2)  # nothing could finish in time: no wait for 5.2


def test_the_test_lasts_its_duration_when_the_schedule_ends_early() -> None:
    run = deliver(settings(), plan(1), schedule=[0.0], duration_s=1.0, graceful_stop_s=1)
    m = run.metrics
    assert m.arrivals == 1
    assert m.arrival_window_s == 1.0
    assert m.duration_s == 1.0


# Stopping ---------------------------------------------------------------------------------------


def test_stop_gives_in_flight_its_grace_and_cancels_waiting_retries() -> None:
    first_fails = replies(Answer(500), then=Answer(delay_s=0.3))
    run = deliver(
        settings(concurrency=3, interval_s=5),
        plan(100),
        first_fails,
        during=at(1.0, Engine.stop),
        grace_s=0.5,
    )
    m = run.metrics
    assert m.scheduled < 100
    assert m.cancelled == 1  # the one waiting 5 s for its retry
    assert m.delivered == m.scheduled - 1  # in flight at the stop: answered within the grace
    assert m.duration_s == pytest.approx(1.2)


def test_stop_now_cancels_what_is_in_flight_and_counts_it() -> None:
    stop_now = at(1.0, lambda engine: engine.stop(now=True))
    run = deliver(settings(concurrency=10), plan(50), Answer(delay_s=100), during=stop_now)
    m = run.metrics
    assert (m.scheduled, m.cancelled, m.delivered) == (10, 10, 0)
    assert m.by_outcome == {"cancelled": 10}
    assert m.duration_s == 1.0
    assert run.transport.in_flight == 0


def test_attempts_cancelled_before_they_ran_are_counted_cancelled() -> None:
    """A stop now lands while the rest of a wave of attempts is created but not yet started:
    those never ran a line, and must still end cancelled (and free their slot)."""

    class StopNow(Log):
        def on_attempt(self, note: Notification, result: AttemptResult, r: float | None) -> None:
            assert self.engine is not None
            self.engine.stop(now=True)  # the first answer came in the very step it was sent

    run = deliver(settings(concurrency=3), plan(10), observer=StopNow())
    m = run.metrics
    assert (m.delivered, m.cancelled, m.scheduled) == (1, 2, 3)
    assert m.attempts_total == 1
    assert "cancelled" not in m.by_outcome  # no attempt of theirs began


# Counting ---------------------------------------------------------------------------------------


def test_every_request_is_counted_resends_included() -> None:
    run = deliver(settings(), plan(5), Answer(resent=True))
    m = run.metrics
    assert m.attempts_total == 5
    assert m.requests_total == 10
    assert m.resent_stale == 5


def test_the_plan_is_pulled_lazily() -> None:
    ahead: list[int] = []

    def counting(engine: Engine) -> Iterable[Notification]:
        for pulled, note in enumerate(plan(200)):
            # Taken from the plan but not yet final: only what is in flight or retrying.
            ahead.append(pulled - engine.metrics.final)
            yield note

    run = deliver(settings(concurrency=8), counting, Answer(delay_s=0.01))
    assert run.metrics.delivered == 200
    assert max(ahead) <= 8


def test_a_live_feed_runs_until_closed_and_everything_put_is_final() -> None:
    feeds: list[LiveFeed] = []

    def open_feed(engine: Engine) -> LiveFeed:
        feeds.append(engine.live_feed())
        return feeds[0]

    async def feed(engine: Engine) -> None:
        for when, note in zip((1.0, 5.0, 10.0), plan(3), strict=True):
            await virtualtime.sleep_until(when)
            feeds[0].put(note)
        feeds[0].close()

    run = deliver(settings(), open_feed, Answer(delay_s=0.5), during=feed)
    assert run.at == pytest.approx([1.0, 5.0, 10.0])
    assert run.metrics.delivered == 3
    # Not over before the feed closed and the last notification was answered.
    assert run.metrics.duration_s == pytest.approx(10.5)


def test_the_engine_leaves_a_transport_it_was_given_to_its_owner() -> None:
    run = deliver(settings(), plan(2))
    assert run.metrics.delivered == 2
    assert not run.transport.opened
    assert not run.transport.closed


def test_a_timeout_is_a_failed_attempt() -> None:
    run = deliver(settings(timeout_s=2, max_attempts=2), plan(1), Answer(delay_s=10))
    assert [outcome for _, outcome, _ in run.log.attempts] == ["timeout", "timeout"]
    assert run.log.attempts[0][0] == 2.0


# The rules as objects ---------------------------------------------------------------------------


def test_admission_cap_limit_and_pause() -> None:
    params = AimdParams(window_s=1.0, min_samples=4)
    admission = Admission(4, aimd=params, max_rate=None, now=0.0)
    for _ in range(4):
        assert not admission.busy(0.0)
        admission.enter()
    assert admission.busy(0.0)  # at the cap
    admission.leave()
    assert not admission.busy(0.0)
    admission.pause(1.0, 5.0)
    assert admission.busy(5.9)
    assert admission.resumes_at(5.9) == 6.0
    assert not admission.busy(6.0)
    assert admission.resumes_at(6.0) == float("inf")


def test_admission_cuts_the_limit_on_a_failing_window_and_only_then() -> None:
    admission = Admission(40, aimd=AimdParams(window_s=1.0, min_samples=4), max_rate=None, now=0)
    assert [admission.observe(0.5, ok=False) for _ in range(4)] == [None] * 4  # window < 1 s
    assert admission.observe(1.0, ok=False) == WindowStats(5, 5)
    assert admission.limit == 20
    assert admission.observe(1.5, ok=True) is None
    off = Admission(40, aimd=None, max_rate=None, now=0)
    assert all(off.observe(t, ok=False) is None for t in range(100))
    assert off.limit == 40


def test_admission_paces_turns() -> None:
    admission = Admission(10, aimd=None, max_rate=4, now=0.0)
    turns = [admission.turn(0.0) for _ in range(4)]
    assert turns == pytest.approx([0.0, 0.245, 0.495, 0.745])  # 5 ms of tolerance


def test_retry_policy_decides_from_the_attempt_alone() -> None:
    policy = RetryPolicy(3, interval_s=1, max_interval_s=60, jitter=0.5, retry_after_max_s=10)
    draws: list[float] = []

    def rand() -> float:
        draws.append(0.5)
        return 0.5

    assert policy.decide(1, True, None, rand) == "delivered"
    assert policy.decide(3, False, None, rand) == "exhausted"
    assert draws == []  # no backoff, no draw: a seed gives the same jitter whatever happened
    assert policy.decide(2, False, None, rand) == RetryIn(2 * 1.25)
    assert policy.decide(1, False, 600, rand) == RetryIn(10, pause_s=10)  # Retry-After, capped


def test_scheduled_arrivals_are_due_at_their_instants_and_dropped_past_the_duration() -> None:
    counted: list[object] = []

    class Sink:
        def scheduled(self, note: Notification) -> None:
            counted.append(note)

        def arrivals_ended(self, now: float, dropped: int = 0) -> None:
            counted.append(("ended", now, dropped))

    notes = plan(5)
    arrivals = Scheduled(iter(notes), iter([0.0, 1.0, 2.0, 3.0, 4.0]), 10.0, Sink(), 12.5)
    first = arrivals.take(10.0)
    assert first is not None
    assert first.intended == 10.0
    assert arrivals.take(10.5) is None
    assert arrivals.wake_at(10.5) == 11.0
    late = arrivals.take(11.7)
    assert late is not None
    assert late.intended == 11.0  # timed from its instant, not from when it was taken
    assert arrivals.take(11.9) is None  # the next is due at 12.0
    arrivals.expire(12.6, busy=True)  # past the duration with no slot: due and future dropped
    assert arrivals.ended
    assert counted[-1] == ("ended", 12.6, 3)


def test_memory_transport_answers_on_virtual_time() -> None:
    async def main() -> list[object]:
        transport = MemoryTransport(
            replies(
                Answer(503, {"Retry-After": "7"}, delay_s=3),
                Failure(RequestTimeout),
                Answer(delay_s=5),  # past its 1 s timeout
            ),
            timeout_s=5,
        )
        got: list[object] = []
        async with transport:
            resp = await transport.request("POST", "http://u:p@x.test/", headers={}, data=b"{}")
            got.append((resp.status, resp.headers["retry-after"], resp.elapsed_s))
            for _ in range(2):
                try:
                    await transport.request("POST", "http://x.test/", headers={}, timeout_s=1)
                except RequestTimeout as exc:
                    got.append(exc.kind)
            got.append(transport.received[0].url)
        return got

    assert virtualtime.run(main()) == [(503, "7", 3.0), "timeout", "timeout", "http://x.test/"]


def test_per_notification_scripts_each_notifications_attempts() -> None:
    run = deliver(settings(concurrency=5), plan(5), per_notification(Answer(500), Answer(502)))
    assert run.metrics.by_outcome == {"500": 5, "502": 5, "200": 5}


def test_virtual_time_jumps_to_the_next_timer() -> None:
    async def main() -> float:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(3600):
                await asyncio.Event().wait()
        return asyncio.get_running_loop().time()

    assert virtualtime.run(main(), start=10.0) == 3610.0
