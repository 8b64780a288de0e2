"""The engine: takes a plan of notifications and delivers each one by the platform's rules.

One coroutine (`_dispatch`) decides what starts when; each attempt runs as a task of one
TaskGroup. A notification waiting for its next attempt sits in the `RetryQueue`, holding no
slot, so retries never block fresh work. The plan is consumed lazily, only when a slot is free:
memory is proportional to the notifications in flight or waiting for a retry, never to the plan.

Every notification taken from the plan ends in exactly one of delivered, exhausted (the last
attempt failed) or cancelled (the run was stopped first).

Time is read from the event loop (`loop.time()`, timers) and, for latencies, from
`EngineOptions.clock`: a virtual-time loop drives all of it (dispatcher.testing).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import random
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager

from .. import USER_AGENT
from ..auth import Auth, from_settings
from ..backoff import RetryIn, RetryPolicy
from ..delivery import AttemptResult, attempt
from ..metrics import Metrics
from ..payloads import Notification
from ..saturation import late_threshold_s
from ..settings import Settings
from ..shards import LateStart, rfc3339
from ..transport import Transport
from .admission import Admission
from .clocks import clock_resolution, watch_loop_lag
from .feeds import Arrivals, LiveFeed, arrivals_for
from .observer import Observer, Outcome, Quiet
from .options import EngineOptions, Start
from .pending import Pending, RetryQueue, Started
from .recorder import Recorder

DEFAULT_OPTIONS = EngineOptions()


class Engine:
    def __init__(
        self,
        settings: Settings,
        *,
        options: EngineOptions = DEFAULT_OPTIONS,
        observer: Observer | None = None,
        auth: Auth | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.settings = settings
        self.options = options
        self.observer: Observer = observer or Quiet()
        self.auth = auth or from_settings(settings.auth)
        # The caller's: opened and closed by the caller, never by the engine. Without one, each
        # run opens (and closes) the HTTP client `options.http_client` names.
        self.transport = transport
        self.metrics = Metrics(cap=settings.concurrency)
        self._events = Recorder(self.metrics, options.clock)
        self._policy = RetryPolicy(
            max_attempts=settings.max_attempts,
            interval_s=settings.interval_s,
            max_interval_s=settings.max_interval_s,
            jitter=settings.jitter,
            retry_after_max_s=settings.retry_after_max_s,
        )
        self._rng = random.Random(options.seed)
        self._admission = Admission.for_settings(settings, now=0.0)  # replaced as a run starts
        self._retries = RetryQueue(self._events.retries_waiting)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._busy_at = -1.0  # last loop time the dispatcher found no send could start

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
        start: Start | None = None,
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
        `start`: the clock starts at that instant, shared with other senders, once the client
        is ready; ready too late, the run sends nothing and raises `LateStart`.
        """
        loop = asyncio.get_running_loop()
        events = self._events
        events.t0 = loop.time()
        try:
            async with self._transport() as transport:
                # The clock starts once the client is ready (loading the CA store alone takes
                # tens of milliseconds): the first arrivals must not be late before the start.
                late_s = await self._starting(start) if start is not None else 0.0
                await self._deliver(transport, plan, schedule, duration_s, graceful_stop_s, late_s)
        finally:
            events.arrivals_ended(loop.time())
            for pending in self._retries.drain():
                self._finish(pending, "cancelled")
            events.end(loop.time())
        return self.metrics

    async def _deliver(
        self,
        transport: Transport,
        plan: Iterable[Notification],
        schedule: Iterable[float] | None,
        duration_s: float | None,
        graceful_stop_s: float | None,
        late_s: float,
    ) -> None:
        loop = asyncio.get_running_loop()
        events = self._events
        async with asyncio.TaskGroup() as tg:
            t0, perf0 = loop.time() - late_s, self.options.clock() - late_s
            resolution = clock_resolution(loop, self.options.clock)
            events.begin(
                t0,
                perf0,
                open_model=schedule is not None,
                late_threshold_s=late_threshold_s(resolution),
            )
            self._admission = Admission.for_settings(
                self.settings, now=t0, phase=self.options.pace_phase
            )
            arrivals = arrivals_for(plan, schedule, t0=t0, duration_s=duration_s, events=events)
            deadline = math.inf  # loop time past which whatever is left is cancelled
            if duration_s is not None and graceful_stop_s is not None:
                deadline = t0 + duration_s + graceful_stop_s
            lag = tg.create_task(watch_loop_lag(self.options.clock, perf0, events.loop_lag))
            try:
                await self._dispatch(arrivals, deadline, transport, tg)
            finally:
                lag.cancel()
            await self._wind_down(deadline)

    async def _starting(self, start: Start) -> float:
        """Wait for `start`; how late the clock starts (within the tolerance, the arrivals
        due meanwhile go at once, so the shards' schedules stay one schedule)."""
        wall = self.options.wall_clock
        late_s = wall() - start.at_unix_s
        if late_s > start.tolerance_s:
            raise LateStart(
                f"ready {late_s:.3f} s after the start instant {rfc3339(start.at_unix_s)}, "
                f"beyond --start-tolerance {start.tolerance_s:g} s: nothing was sent (start "
                "the shards earlier, or check that the clocks agree)"
            )
        loop = asyncio.get_running_loop()
        while not self._stopping and (wait_s := start.at_unix_s - wall()) > 0:
            await self._wait_until(loop.time() + wait_s)
        # On a whole millisecond: uvloop's clock and timers tick in milliseconds, and instants
        # between its ticks would be waited for by polling with no timeout, a core spinning.
        return math.floor(max(0.0, wall() - start.at_unix_s) * 1000) / 1000

    def _transport(self) -> AbstractAsyncContextManager[Transport]:
        if self.transport is not None:
            return contextlib.nullcontext(self.transport)
        s = self.settings
        return Transport(
            timeout_s=s.timeout_s,
            max_body_bytes=s.max_body_bytes,
            ca_bundle=s.ca_bundle,
            insecure=s.insecure,
            user_agent=USER_AGENT,
            client=self.options.http_client,
            source_addresses=s.source_addresses,
        )

    async def _dispatch(
        self, arrivals: Arrivals, deadline: float, transport: Transport, tg: asyncio.TaskGroup
    ) -> None:
        """Start whatever may start now, else sleep until something may: until stopped, out
        of time (`deadline`, loop time) or out of work."""
        loop = asyncio.get_running_loop()
        admission, retries = self._admission, self._retries
        while not self._stopping:
            now = loop.time()
            if now >= deadline:
                return  # the graceful stop is over: what is left is cancelled
            busy = admission.busy(now)
            arrivals.expire(now, busy=busy)  # past the duration, no new arrival is taken
            if self._finished(arrivals, deadline):
                return
            if busy:
                # A slot frees when an attempt ends, which wakes this loop: only instants count.
                await self._wait_until(min(deadline, arrivals.ends_at, admission.resumes_at(now)))
                # No send could start for the whole wait: an arrival due before it ended and
                # started late was held up by the receiver (queued), not by the sender.
                self._busy_at = loop.time()
                continue
            pending = retries.pop_due(now) or arrivals.take(now)  # a due retry goes first
            if pending is None:
                if self._finished(arrivals, deadline):
                    return
                await self._wait_until(min(deadline, retries.next_due, arrivals.wake_at(now)))
                continue
            if not await self._paced(admission.turn(now)):
                self._finish(pending, "cancelled")  # stopped while waiting for its turn
                continue
            self._start(pending, transport, tg)

    def _finished(self, arrivals: Arrivals, deadline: float) -> bool:
        """Nothing is left that could still finish in time."""
        return (
            arrivals.ended and self._admission.in_flight == 0 and self._retries.next_due >= deadline
        )

    async def _wait_until(self, when: float) -> None:
        """Sleep until `when` (loop time; inf: no limit) or until something changes: an
        attempt ended, a stop, a notification put on a live feed."""
        self._wake.clear()
        try:
            async with asyncio.timeout_at(when if when < math.inf else None):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _paced(self, start_at: float) -> bool:
        """Wait for the pacer's turn; False when a stop came first (a wait at a low
        --max-rate can be long, and a stop must not wait for it)."""
        loop = asyncio.get_running_loop()
        while not self._stopping and start_at > loop.time():
            await self._wait_until(start_at)
        return not self._stopping

    def _start(self, pending: Pending, transport: Transport, tg: asyncio.TaskGroup) -> None:
        now = asyncio.get_running_loop().time()
        if pending.attempts == 0:
            self._events.arrival(now, pending.intended, self._busy_at)
        self._events.in_flight(now, self._admission.enter())
        started = Started()
        task = tg.create_task(self._attempt(pending, transport, started))
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._attempt_done, pending, started))

    def _attempt_done(self, pending: Pending, started: Started, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not started.value:
            # Cancelled (a stop now) before its coroutine ran a single line: nothing of it
            # counted it, so this does, or the notification would vanish from the report.
            self._events.in_flight(asyncio.get_running_loop().time(), self._admission.leave())
            self._finish(pending, "cancelled")
            self._wake.set()

    async def _wind_down(self, deadline: float) -> None:
        """What is still in flight once the dispatcher is done gets the grace period (none
        past the graceful stop's deadline), then is cancelled."""
        loop = asyncio.get_running_loop()
        late = self._tasks
        if self._tasks and loop.time() < deadline:
            grace = min(self.options.grace_s, deadline - loop.time())
            _, late = await asyncio.wait(self._tasks, timeout=grace)
        for task in late:
            task.cancel()

    # One attempt -------------------------------------------------------------------------

    async def _attempt(self, pending: Pending, transport: Transport, started: Started) -> None:
        started.value = True
        pending.attempts += 1
        self._events.attempt_started(pending.attempts)
        try:
            result = await attempt(
                transport,
                self.auth,
                self.settings.url,
                pending.note,
                pending.attempts,
                extra_headers=self.settings.all_headers,
                on_request=self._events.request,
                clock=self.options.clock,
            )
        except asyncio.CancelledError:
            self._events.attempt_cancelled()
            self._finish(pending, "cancelled")
            raise
        finally:
            self._events.in_flight(asyncio.get_running_loop().time(), self._admission.leave())
            self._wake.set()
        self._settle(pending, result)

    def _settle(self, pending: Pending, result: AttemptResult) -> None:
        """Count the attempt, let AIMD see it, and take the notification's next step."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        slow = self._events.answered(now, result, pending.note, pending.intended,
                                     self._admission.limit)  # fmt: skip
        if slow is not None:
            pending.slow = [*(pending.slow or ()), slow]
        window = self._admission.observe(now, result.ok)
        if window is not None:
            self._events.limit_decided(now, self._admission.limit, window)
        step = self._policy.decide(
            pending.attempts, result.ok, result.retry_after_s, self._rng.random
        )
        if not isinstance(step, RetryIn):
            self.observer.on_attempt(pending.note, result, None)
            self._finish(pending, step)
            return
        if step.pause_s is not None:
            # The receiver asked for air: pause every send to it, not only this one.
            self._admission.pause(loop.time(), step.pause_s)
        self.observer.on_attempt(pending.note, result, step.delay_s)
        self._retries.push(loop.time() + step.delay_s, pending)

    def _finish(self, pending: Pending, outcome: Outcome) -> None:
        self._events.final(asyncio.get_running_loop().time(), pending.note, outcome, pending.slow)
        self.observer.on_final(pending.note, outcome, pending.attempts)
