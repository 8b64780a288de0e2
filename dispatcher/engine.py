"""The engine: takes a plan of notifications and delivers each one by the platform's rules.

One coroutine (`_dispatch`) decides what starts when; each attempt runs as a task of one
TaskGroup. A notification waiting for its next attempt sits in a heap, holding no slot, so
retries never block fresh work. The plan is consumed lazily, only when a slot is free: memory
is proportional to the notifications in flight or waiting for a retry, never to the plan.

Every notification taken from the plan ends in exactly one of delivered, exhausted (the last
attempt failed) or cancelled (the run was stopped first).
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from . import USER_AGENT
from .auth import Auth, from_settings
from .backoff import backoff_delay, retry_delay
from .delivery import AttemptResult, RequestKind, attempt
from .metrics import Metrics, ThrottlePoint, record_seconds
from .payloads import Notification
from .saturation import WARMUP_S, late_threshold_s
from .settings import Settings
from .throttle import AimdParams, Pacer, WindowStats, aimd_decide
from .transport import HttpClient, Transport

Outcome = Literal["delivered", "exhausted", "cancelled"]
LAG_PROBE_S = 0.01


def clock_resolution(loop: asyncio.AbstractEventLoop) -> float:
    """The smallest step the event loop's clock takes: uvloop's ticks in whole milliseconds,
    asyncio's in far less. Lateness finer than a few ticks is rounding, not delay."""
    first = loop.time()
    spin_until = time.perf_counter() + 0.01
    while time.perf_counter() < spin_until:
        step = loop.time() - first
        if step > 0:
            return step
    return 0.01


class Observer(Protocol):
    def on_attempt(
        self, note: Notification, result: AttemptResult, retry_in_s: float | None
    ) -> None:
        """An attempt finished; `retry_in_s` is the wait before the next one, None if final."""

    def on_final(self, note: Notification, outcome: Outcome, attempts: int) -> None:
        """A notification reached its final outcome."""


class _Quiet:
    def on_attempt(
        self, note: Notification, result: AttemptResult, retry_in_s: float | None
    ) -> None:
        pass

    def on_final(self, note: Notification, outcome: Outcome, attempts: int) -> None:
        pass


@dataclass(frozen=True, slots=True)
class EngineOptions:
    grace_s: float = 2.0  # how long in-flight requests may finish after a stop
    seed: int | None = None  # jitter
    http_client: HttpClient = "aiohttp"  # "lean" for load: see dispatcher.leanhttp


class LiveFeed:
    """A plan that grows while the engine runs (platform mode): `put` adds a notification and
    wakes the engine; `close` lets the run end once everything put has a final outcome."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._queue: deque[Notification] = deque()
        self._wake = wake
        self.closed = False

    def put(self, note: Notification) -> None:
        if self.closed:
            raise RuntimeError("put on a closed feed")
        self._queue.append(note)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def __iter__(self) -> LiveFeed:
        return self

    def __next__(self) -> Notification:
        if self._queue:
            return self._queue.popleft()
        raise StopIteration


@dataclass(slots=True)
class _Pending:
    note: Notification
    intended: float  # loop time the next attempt is meant to start
    attempts: int = 0


class _Started:
    """Whether one attempt's coroutine took its first step: per attempt, never per
    notification (its next attempt may be dispatched before this one's done-callback runs)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = False


@dataclass(order=True, slots=True)
class _Retry:
    due: float
    seq: int
    pending: _Pending = field(compare=False)


class Engine:
    def __init__(
        self,
        settings: Settings,
        *,
        options: EngineOptions = EngineOptions(),
        observer: Observer | None = None,
        auth: Auth | None = None,
    ) -> None:
        self.settings = settings
        self.options = options
        self.observer: Observer = observer or _Quiet()
        self.auth = auth or from_settings(settings.auth)
        self.metrics = Metrics(cap=settings.concurrency)
        self._rng = random.Random(options.seed)
        self._pacer = Pacer(settings.max_rate) if settings.max_rate else None
        throttle = settings.throttle
        self._aimd = (
            AimdParams(
                window_s=throttle.window_s,
                min_samples=throttle.min_samples,
                threshold=throttle.threshold,
                decrease=throttle.decrease,
            )
            if throttle.enabled
            else None
        )
        self._retries: list[_Retry] = []
        self._seq = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._paused_until = 0.0
        self._busy_at = -1.0  # last loop time the dispatcher found no free slot
        self._open = False  # arrivals have instants of their own (load's open model)
        self._deadline = math.inf  # loop time past which whatever is left is cancelled
        self._arrivals_end: float | None = None
        self._window_start = 0.0
        self._t0 = 0.0
        self._perf0 = 0.0

    def live_feed(self) -> LiveFeed:
        """A plan to `run` that is filled while it runs."""
        return LiveFeed(self._wake.set)

    # Control -----------------------------------------------------------------------------

    def stop(self, *, now: bool = False) -> None:
        """Stop scheduling; in-flight attempts get `grace_s` (none if `now`), and every
        notification not delivered or exhausted by then is cancelled."""
        self._stopping = True
        self._wake.set()
        if now:
            for task in self._tasks:
                task.cancel()

    @property
    def stopping(self) -> bool:
        return self._stopping

    # The run -----------------------------------------------------------------------------

    async def run(
        self,
        plan: Iterable[Notification],
        *,
        schedule: Iterable[float] | None = None,
        duration_s: float | None = None,
        graceful_stop_s: float | None = None,
    ) -> Metrics:
        """Deliver the plan.

        Closed model (default): the next notification starts as soon as a slot is free.
        Open model (`schedule`, seconds from the start for each notification): a notification
        is due at its instant whether or not a slot is free; one that must wait is counted as
        queued, and its latency is also measured from the instant it was due.
        `duration_s` stops taking new notifications after that long (open model: arrivals due
        by then that never started are counted as dropped). With `graceful_stop_s` too, what is
        in flight or waiting for a retry then has that long to finish (k6's gracefulStop) and
        the rest is cancelled: a run with a duration always ends.
        """
        loop = asyncio.get_running_loop()
        self._t0 = loop.time()
        self._open = schedule is not None
        settings = self.settings
        try:
            async with (
                Transport(
                    timeout_s=settings.timeout_s,
                    max_body_bytes=settings.max_body_bytes,
                    ca_bundle=settings.ca_bundle,
                    insecure=settings.insecure,
                    user_agent=USER_AGENT,
                    client=self.options.http_client,
                ) as transport,
                asyncio.TaskGroup() as tg,
            ):
                # The clock starts once the client is ready (loading the CA store alone takes
                # tens of milliseconds): the first arrivals must not be late before the start.
                self._t0 = self._window_start = loop.time()
                # uvloop's clock ticks in whole milliseconds: latencies are measured on
                # perf_counter, intended instants (loop time) carried over through one origin.
                self._perf0 = time.perf_counter()
                self.metrics.late_threshold_s = late_threshold_s(clock_resolution(loop))
                if duration_s is not None and graceful_stop_s is not None:
                    self._deadline = self._t0 + duration_s + graceful_stop_s
                lag = tg.create_task(self._watch_loop_lag())
                try:
                    await self._dispatch(
                        iter(plan),
                        iter(schedule) if schedule is not None else None,
                        duration_s,
                        transport,
                        tg,
                    )
                finally:
                    lag.cancel()
                if self._tasks and loop.time() < self._deadline:
                    # Stopped: give what is in flight its grace period, then cancel it.
                    grace = min(self.options.grace_s, self._deadline - loop.time())
                    _, late = await asyncio.wait(self._tasks, timeout=grace)
                    for task in late:
                        task.cancel()
                else:
                    for task in self._tasks:  # the graceful stop is over
                        task.cancel()
        finally:
            self._end_arrivals(loop.time())
            for retry in self._retries:
                self._finish(retry.pending, "cancelled")
            self._retries.clear()
            self.metrics.retries_waiting = 0
            self.metrics.close_second()
            self.metrics.duration_s = loop.time() - self._t0
        return self.metrics

    def _end_arrivals(self, now: float) -> None:
        if self._arrivals_end is None:
            self._arrivals_end = now
            self.metrics.arrival_window_s = now - self._t0

    async def _dispatch(
        self,
        feed: Iterator[Notification],
        schedule: Iterator[float] | None,
        duration_s: float | None,
        transport: Transport,
        tg: asyncio.TaskGroup,
    ) -> None:
        loop = asyncio.get_running_loop()
        m = self.metrics
        plan_done = False
        exhausted = False  # open model: the schedule has no arrival left before the duration
        next_due: float | None = None  # open model: when the next fresh notification is due
        ends_at = self._t0 + duration_s if duration_s is not None else math.inf
        while not self._stopping:
            now = loop.time()
            if now >= self._deadline:
                return  # the graceful stop is over: what is left is cancelled
            busy = m.in_flight >= m.limit or self._paused_until > now
            # Past the duration, an arrival that was due before it still starts if a slot is
            # free (the sender or a timer was a little late); one still waiting for a slot is
            # dropped, as k6 drops iterations no VU was free for.
            if not plan_done and now >= ends_at and (schedule is None or busy or exhausted):
                plan_done = True
                self._end_arrivals(now)
                m.dropped += (next_due is not None) + sum(1 for _ in schedule or ())
                next_due = None
            idle = plan_done and m.in_flight == 0
            if idle and (not self._retries or self._retries[0].due >= self._deadline):
                return  # nothing left that could still finish in time
            if busy:
                self._busy_at = now
                wake = min(self._deadline, ends_at if not plan_done else math.inf)
                if self._paused_until > now:
                    wake = min(wake, self._paused_until)
                await self._wait(wake - now if wake < math.inf else None)
                continue
            pending: _Pending | None = None
            if self._retries and self._retries[0].due <= now:
                retry = heapq.heappop(self._retries)
                pending = retry.pending
                pending.intended = retry.due
                m.retries_waiting = len(self._retries)
            elif not plan_done and not exhausted:
                if schedule is not None and next_due is None:
                    offset = next(schedule, None)
                    if offset is None:
                        # The test lasts its whole duration (as k6's do): rates divide by it.
                        exhausted = ends_at < math.inf
                        plan_done = not exhausted
                        if plan_done:
                            self._end_arrivals(now)
                        continue
                    next_due = self._t0 + offset
                if next_due is None or next_due <= now:
                    note = next(feed, None)
                    if note is None:
                        # A live feed that is still open has nothing yet: wait for a put.
                        plan_done = not isinstance(feed, LiveFeed) or feed.closed
                        if plan_done:
                            self._end_arrivals(now)
                            continue
                    else:
                        pending = _Pending(note, next_due if next_due is not None else now)
                        next_due = None
                        self._count_scheduled(note)
            if pending is None:
                wakes = [r.due for r in self._retries[:1]]
                if next_due is not None:
                    wakes.append(next_due)
                if not plan_done:
                    wakes.append(ends_at)
                wake = min(wakes, default=math.inf)
                wake = min(wake, self._deadline)
                await self._wait(wake - now if wake < math.inf else None)
                continue
            if self._pacer is not None and not await self._paced(now):
                self._finish(pending, "cancelled")  # stopped while waiting for its turn
                continue
            if pending.attempts == 0:
                self._count_arrival(pending)
            m.in_flight += 1
            m.peak_in_flight = max(m.peak_in_flight, m.in_flight)
            started = _Started()
            task = tg.create_task(self._attempt(pending, transport, started))
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._attempt_done, pending, started))

    def _attempt_done(self, pending: _Pending, started: _Started, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not started.value:
            # Cancelled (a stop now) before its coroutine ran a single line: nothing of it
            # counted it, so this does, or the notification would vanish from the report.
            self.metrics.in_flight -= 1
            self._finish(pending, "cancelled")
            self._wake.set()

    async def _paced(self, now: float) -> bool:
        """Wait for the pacer's slot; False when a stop came first (a wait at a low
        --max-rate can be long, and a stop must not wait for it)."""
        assert self._pacer is not None
        start_at = now + self._pacer.reserve(now)
        loop = asyncio.get_running_loop()
        while not self._stopping and (left := start_at - loop.time()) > 0:
            await self._wait(left)
        return not self._stopping

    def _count_arrival(self, pending: _Pending) -> None:
        m = self.metrics
        second = m.second(int(asyncio.get_running_loop().time() - self._t0))
        m.arrivals += 1
        second.arrivals += 1
        if not self._open:
            return
        # Measured on perf_counter: the loop's own clock may tick in whole milliseconds.
        late_s = time.perf_counter() - (self._perf0 + (pending.intended - self._t0))
        if late_s > m.late_threshold_s:
            # Late because every slot was taken (the receiver's doing), or late with a slot
            # free (the sender could not keep up: its figures are suspect).
            if self._busy_at >= pending.intended:
                m.queued += 1
            else:
                m.late_starts += 1
                second.late += 1

    async def _watch_loop_lag(self) -> None:
        """How late the event loop runs a 10 ms timer: the sender's own saturation."""
        while True:
            expected = time.perf_counter() + LAG_PROBE_S
            await asyncio.sleep(LAG_PROBE_S)
            now = time.perf_counter()
            if now - self._perf0 >= WARMUP_S:  # the start-up transient is not the steady state
                record_seconds(self.metrics.loop_lag, max(0.0, now - expected))

    async def _wait(self, timeout_s: float | None) -> None:
        """Sleep until something changes (an attempt ended, a stop) or the timeout passes."""
        self._wake.clear()
        try:
            async with asyncio.timeout(timeout_s):
                await self._wake.wait()
        except TimeoutError:
            pass

    def _count_scheduled(self, note: Notification) -> None:
        m = self.metrics
        m.scheduled += 1
        m.duplicates_sent += note.duplicate
        m.reordered_sent += note.reordered
        m.unknown_sent += note.unknown

    async def _attempt(self, pending: _Pending, transport: Transport, started: _Started) -> None:
        started.value = True
        m = self.metrics
        pending.attempts += 1
        m.attempts_total += 1
        m.max_attempts_per_notification = max(m.max_attempts_per_notification, pending.attempts)
        try:
            result = await attempt(
                transport,
                self.auth,
                self.settings.url,
                pending.note,
                pending.attempts,
                extra_headers=self.settings.all_headers,
                on_request=self._count_request,
            )
        except asyncio.CancelledError:
            m.by_outcome["cancelled"] += 1
            self._finish(pending, "cancelled")
            raise
        finally:
            m.in_flight -= 1
            self._wake.set()
        self._record(result, pending.intended)
        if result.ok:
            self.observer.on_attempt(pending.note, result, None)
            self._finish(pending, "delivered")
        elif pending.attempts >= self.settings.max_attempts:
            self.observer.on_attempt(pending.note, result, None)
            self._finish(pending, "exhausted")
        else:
            delay = self._retry_delay(pending.attempts, result)
            self.observer.on_attempt(pending.note, result, delay)
            now = asyncio.get_running_loop().time()
            heapq.heappush(self._retries, _Retry(now + delay, next(self._seq), pending))
            m.retries_waiting = len(self._retries)

    def _count_request(self, kind: RequestKind) -> None:
        m = self.metrics
        m.requests_total += 1
        m.resent_after_401 += kind == "after-401"
        m.resent_stale += kind == "stale-connection"

    def _retry_delay(self, attempts: int, result: AttemptResult) -> float:
        s = self.settings
        backoff = backoff_delay(
            attempts,
            interval_s=s.interval_s,
            max_interval_s=s.max_interval_s,
            jitter=s.jitter,
            rand=self._rng.random(),
        )
        if result.retry_after_s is not None:
            # The receiver asked for air: pause every send to it, not only this one.
            pause = min(result.retry_after_s, s.retry_after_max_s)
            now = asyncio.get_running_loop().time()
            self._paused_until = max(self._paused_until, now + pause)
        return retry_delay(backoff, result.retry_after_s, s.retry_after_max_s)

    def _record(self, result: AttemptResult, intended: float) -> None:
        m = self.metrics
        now = asyncio.get_running_loop().time()
        second = m.second(int(now - self._t0))
        second.attempts += 1
        second.failures += not result.ok
        second.limit = m.limit
        m.by_outcome[result.outcome] += 1
        if result.status is not None:
            record_seconds(m.latency, result.latency_s)
            intended_perf = self._perf0 + (intended - self._t0)
            response = max(result.latency_s, time.perf_counter() - intended_perf)
            record_seconds(m.response, response)
            record_seconds(m.this_second, response)
        m.window_attempts += 1
        m.window_failures += not result.ok
        params = self._aimd
        if params is None:
            return
        if now - self._window_start < params.window_s or m.window_attempts < params.min_samples:
            return
        window = WindowStats(m.window_attempts, m.window_failures)
        m.limit = aimd_decide(m.limit, m.cap, window, params)
        m.min_limit = min(m.min_limit, m.limit)
        m.timeline.append(
            ThrottlePoint(round(now - self._t0, 3), m.limit, window.failure_rate, window.attempts)
        )
        m.window_attempts = m.window_failures = 0
        self._window_start = now

    def _finish(self, pending: _Pending, outcome: Outcome) -> None:
        m = self.metrics
        if outcome == "delivered":
            m.delivered += 1
            m.second(int(asyncio.get_running_loop().time() - self._t0)).deliveries += 1
            note = pending.note
            m.duplicates_delivered += note.duplicate
            m.reordered_delivered += note.reordered
            m.unknown_delivered += note.unknown
        elif outcome == "exhausted":
            m.exhausted += 1
        else:
            m.cancelled += 1
        self.observer.on_final(pending.note, outcome, pending.attempts)
