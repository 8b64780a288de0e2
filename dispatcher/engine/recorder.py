"""What a run measured, written in one place: the engine tells, the recorder counts."""

from __future__ import annotations

from collections.abc import Callable

from ..delivery import AttemptResult, RequestKind
from ..metrics import Metrics, ThrottlePoint, record_seconds
from ..payloads import Notification
from ..samples import Sample, SlowAttempt, excerpt, kind_index
from ..throttle import WindowStats
from .observer import Outcome


class Recorder:
    """Turns the engine's events into `Metrics`, the only writer of a run's figures.

    Each event carries the loop time it happened at (`now`); response times and lateness are
    read on `clock`, the engine's latency clock, against the loop-time instants an attempt was
    meant to start at, carried over through one origin (`t0` on the loop, `perf0` on `clock`).
    """

    def __init__(self, metrics: Metrics, clock: Callable[[], float]) -> None:
        self.metrics = metrics
        self._clock = clock
        self.t0 = 0.0
        self.perf0 = 0.0
        self._open = False
        self._arrivals_ended = False

    def begin(self, t0: float, perf0: float, *, open_model: bool, late_threshold_s: float) -> None:
        self.t0, self.perf0, self._open = t0, perf0, open_model
        self.metrics.late_threshold_s = late_threshold_s

    # Notifications ---------------------------------------------------------------------------

    def scheduled(self, note: Notification) -> None:
        m = self.metrics
        m.scheduled += 1
        m.duplicates_sent += note.duplicate
        m.reordered_sent += note.reordered
        m.unknown_sent += note.unknown

    def arrival(self, now: float, intended: float, busy_at: float) -> None:
        """A first attempt starts; `busy_at` is the last loop time no send could start."""
        m = self.metrics
        second = m.second(int(now - self.t0))
        m.arrivals += 1
        second.arrivals += 1
        if not self._open:
            return
        # Measured on `clock`: the loop's own may tick in whole milliseconds.
        late_s = self._clock() - (self.perf0 + (intended - self.t0))
        if m.arrivals == 1:
            m.first_late_s = late_s
        if late_s > m.late_threshold_s:
            # Late because every slot was taken (the receiver's doing), or late with a slot
            # free (the sender could not keep up: its figures are suspect).
            if busy_at >= intended:
                m.queued += 1
            else:
                m.late_starts += 1
                second.late += 1

    def final(
        self, now: float, note: Notification, outcome: Outcome, slow: list[SlowAttempt] | None
    ) -> None:
        """`slow`: the notification's attempts kept among the slowest, told how it ended."""
        m = self.metrics
        if slow is not None:
            for entry in slow:
                entry.final = outcome
        if outcome == "delivered":
            m.delivered += 1
            m.second(int(now - self.t0)).deliveries += 1
            m.duplicates_delivered += note.duplicate
            m.reordered_delivered += note.reordered
            m.unknown_delivered += note.unknown
        elif outcome == "exhausted":
            m.exhausted += 1
        else:
            m.cancelled += 1

    # Attempts --------------------------------------------------------------------------------

    def in_flight(self, now: float, count: int) -> None:
        """`count` attempts in flight from `now` on (one more started, or one ended)."""
        m = self.metrics
        # The second is opened first: a second opened now starts with what was in flight
        # before the change, which was its count when it began.
        second = m.second(int(now - self.t0))
        m.in_flight = count
        if count > second.peak_in_flight:
            second.peak_in_flight = count
            if count > m.peak_in_flight:
                m.peak_in_flight = count

    def attempt_started(self, attempts: int) -> None:
        """`attempts`: the notification's, this one included."""
        m = self.metrics
        m.attempts_total += 1
        m.max_attempts_per_notification = max(m.max_attempts_per_notification, attempts)

    def request(self, kind: RequestKind) -> None:
        m = self.metrics
        m.requests_total += 1
        m.resent_after_401 += kind == "after-401"
        m.resent_stale += kind == "stale-connection"

    def attempt_cancelled(self) -> None:
        self.metrics.by_outcome["cancelled"] += 1

    def answered(
        self,
        now: float,
        result: AttemptResult,
        note: Notification,
        intended: float,
        limit: int,
    ) -> SlowAttempt | None:
        """An attempt of `note` ended with `result`; it was meant to start at `intended` (loop
        time). Returns its entry when it is among the slowest so far."""
        m = self.metrics
        second = m.second(int(now - self.t0))
        second.attempts += 1
        second.failures += not result.ok
        second.limit = limit
        second.kinds[kind_index(result.status, result.error)] += 1
        outcome = result.outcome
        seen = m.by_outcome[outcome]
        m.by_outcome[outcome] = seen + 1
        if not seen:  # the first of its outcome: once per kind, not per attempt
            m.samples[outcome] = Sample(
                outcome, result.status, excerpt(result.detail), note.process_id, note.key,
                result.number, round(now - self.t0, 3),
            )  # fmt: skip
        kept = None
        if result.status is not None:
            record_seconds(m.latency, result.latency_s)
            intended_perf = self.perf0 + (intended - self.t0)
            response = max(result.latency_s, self._clock() - intended_perf)
            record_seconds(m.response, response)
            record_seconds(m.this_second, response)
            # Ranked by service time, the receiver's own: response time also holds the wait
            # for a slot, which a cut throttle or the sender's own queue may have made.
            if result.latency_s > m.slowest.floor:
                kept = SlowAttempt(
                    response, result.latency_s, note.process_id, note.key, result.number,
                    outcome, round(now - self.t0, 3),
                )  # fmt: skip
                m.slowest.offer(kept)
        # The throttle window's counts, for progress displays (the limiter keeps its own).
        m.window_attempts += 1
        m.window_failures += not result.ok
        return kept

    def limit_decided(self, now: float, limit: int, window: WindowStats) -> None:
        m = self.metrics
        m.limit = limit
        m.min_limit = min(m.min_limit, limit)
        m.timeline.append(
            ThrottlePoint(round(now - self.t0, 3), limit, window.failure_rate, window.attempts)
        )
        m.window_attempts = m.window_failures = 0

    def retries_waiting(self, count: int) -> None:
        self.metrics.retries_waiting = count

    # The run ---------------------------------------------------------------------------------

    def arrivals_ended(self, now: float, dropped: int = 0) -> None:
        """No fresh notification is taken from now on (the first call counts); `dropped`
        arrivals were due and never started."""
        self.metrics.dropped += dropped
        if not self._arrivals_ended:
            self._arrivals_ended = True
            self.metrics.arrival_window_s = now - self.t0

    def loop_lag(self, seconds: float) -> None:
        record_seconds(self.metrics.loop_lag, seconds)

    def end(self, now: float) -> None:
        m = self.metrics
        m.retries_waiting = 0
        m.close_second()
        m.duration_s = now - self.t0
