"""What a run measured: counters, HDR latency histograms and the throttle timeline.

A `Metrics` is written by one engine run only, through its recorder
(dispatcher.engine.recorder); everyone else reads `snapshot()`.
Memory does not grow with the number of notifications: there is no per-notification record.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from .samples import (
    KINDS,
    Sample,
    Slowest,
    add_counts,
    first_samples,
    kind_counts,
    sample_wire,
    samples_from,
    slow_wire,
    slowest_from,
    slowest_of,
)

# Microsecond resolution up to one hour, 3 significant digits (0.1% error), as wrk2 and oha do.
_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000
_DIGITS = 3

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99_9": 99.9}


def new_histogram() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)


def record_seconds(histogram: HdrHistogram, seconds: float) -> None:
    histogram.record_value(min(_HIGHEST_US, max(_LOWEST_US, round(seconds * 1e6))))


def summarize_ms(histogram: HdrHistogram) -> dict[str, float | None]:
    if histogram.get_total_count() == 0:
        return {name: None for name in (*PERCENTILES, "max")}
    summary: dict[str, float | None] = {
        name: histogram.get_value_at_percentile(pct) / 1000 for name, pct in PERCENTILES.items()
    }
    summary["max"] = histogram.get_max_value() / 1000
    return summary


@dataclass(slots=True)
class ThrottlePoint:
    t_s: float
    limit: int
    failure_rate: float
    attempts: int


@dataclass(slots=True)
class Second:
    """One second of a run, for the per-second timeline."""

    t: int
    arrivals: int = 0  # first attempts started
    late: int = 0  # of those, started late with a slot free (the sender's own delay)
    attempts: int = 0
    deliveries: int = 0
    failures: int = 0  # failed attempts
    limit: int = 0
    peak_in_flight: int = 0  # the most attempts in flight at once during the second
    # Attempts answered, by `samples.KINDS` index: status class or error kind.
    kinds: list[int] = field(default_factory=lambda: [0] * len(KINDS))
    # The second's response times, HDR-encoded once the second is over: a few hundred bytes
    # instead of a live histogram (~190 kB) for every second of an hour-long run.
    response: str | None = None

    @property
    def p99_ms(self) -> float | None:
        if self.response is None:
            return None
        histogram = new_histogram()
        histogram.decode_and_add(self.response)
        return float(histogram.get_value_at_percentile(99.0) / 1000)

    def as_json(self) -> dict[str, Any]:
        p99 = self.p99_ms
        return {
            "t": self.t,
            "arrivals": self.arrivals,
            "late_starts": self.late,
            "attempts": self.attempts,
            "deliveries": self.deliveries,
            "failures": self.failures,
            "limit": self.limit,
            "p99_ms": p99,
        }


@dataclass
class Metrics:
    cap: int
    scheduled: int = 0
    delivered: int = 0
    exhausted: int = 0
    cancelled: int = 0
    duplicates_sent: int = 0
    reordered_sent: int = 0
    unknown_sent: int = 0
    duplicates_delivered: int = 0
    reordered_delivered: int = 0
    unknown_delivered: int = 0
    attempts_total: int = 0
    # HTTP requests carrying a notification: an attempt makes two when a 401 made the sender
    # renew its OAuth2 token and send again, and none when no token could be had.
    requests_total: int = 0
    resent_after_401: int = 0
    # A kept-alive connection the server had closed was found out only once the request was on
    # it: sent again on a fresh one (the receiver may have read the first, so it counts).
    resent_stale: int = 0
    max_attempts_per_notification: int = 0
    retries_waiting: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    limit: int = 0
    min_limit: int = 0
    by_outcome: Counter[str] = field(default_factory=Counter)
    latency: HdrHistogram = field(default_factory=new_histogram)  # service time: send → answer
    # Response time from the instant the attempt was meant to start (coordinated omission).
    response: HdrHistogram = field(default_factory=new_histogram)
    loop_lag: HdrHistogram = field(default_factory=new_histogram)
    queued: int = 0  # arrivals that started late because every slot was busy
    late_starts: int = 0  # arrivals that started late with a slot free: the sender lagged
    late_threshold_s: float = 0.0  # how late "late" is, from the event loop's clock resolution
    arrivals: int = 0
    # Arrivals due before the run's duration ended that never started (k6's dropped
    # iterations): every slot was busy until new arrivals stopped.
    dropped: int = 0
    arrival_window_s: float = 0.0  # how long new arrivals were taken: what rates divide by
    # How late the first arrival started after its instant (open model): with a shared start
    # instant, how well this sender lined up with the others. Merged: the latest.
    first_late_s: float | None = None
    seconds: list[Second] = field(default_factory=list)
    this_second: HdrHistogram = field(default_factory=new_histogram)  # the open second's
    timeline: list[ThrottlePoint] = field(default_factory=list)
    # The throttle's open window, for progress displays (AIMD's own state is the limiter's).
    window_attempts: int = 0
    window_failures: int = 0
    duration_s: float = 0.0
    # The first attempt of each outcome, and the slowest answered ones.
    samples: dict[str, Sample] = field(default_factory=dict)
    slowest: Slowest = field(default_factory=Slowest)
    # Per-second outcome kinds and in-flight peaks, samples and slowest were recorded: not so
    # when merged from a shard written before they were.
    detailed: bool = True

    def __post_init__(self) -> None:
        self.limit = self.min_limit = self.cap

    def second(self, t: int) -> Second:
        """The timeline entry for second `t`, opening it (and any silent seconds) as needed."""
        seconds = self.seconds
        if seconds and t <= seconds[-1].t:  # the loop clock never runs backwards
            return seconds[-1]
        self.close_second()
        start = seconds[-1].t + 1 if seconds else 0
        for missing in range(start, t + 1):
            # In flight as it was when the second began: the callers change `in_flight` only
            # once the second it changed in is open.
            seconds.append(Second(missing, limit=self.limit, peak_in_flight=self.in_flight))
        return seconds[-1]

    def close_second(self) -> None:
        """Fold the open second's response times into its timeline entry."""
        if self.seconds and self.this_second.get_total_count():
            self.seconds[-1].response = self.this_second.encode()
            self.this_second.reset()

    @property
    def final(self) -> int:
        return self.delivered + self.exhausted + self.cancelled

    def snapshot(self) -> dict[str, Any]:
        """Live figures for progress displays."""
        attempts = self.window_attempts
        return {
            "scheduled": self.scheduled,
            "in_flight": self.in_flight,
            "delivered": self.delivered,
            "retrying": self.retries_waiting,
            "exhausted": self.exhausted,
            "cancelled": self.cancelled,
            "limit": self.limit,
            "failure_rate": self.window_failures / attempts if attempts else 0.0,
            "latency_ms": summarize_ms(self.latency),
        }


# Merging across worker processes ------------------------------------------------------------


_SUMMED = (
    "scheduled", "delivered", "exhausted", "cancelled", "duplicates_sent", "reordered_sent",
    "unknown_sent", "duplicates_delivered", "reordered_delivered", "unknown_delivered",
    "attempts_total", "requests_total", "resent_after_401", "resent_stale", "queued",
    "late_starts", "arrivals", "dropped", "peak_in_flight", "cap", "limit", "min_limit",
)  # fmt: skip


def to_wire(m: Metrics) -> dict[str, Any]:
    """A picklable, mergeable picture of one worker's metrics (histograms HDR-encoded)."""
    seconds = [
        (s.t, s.arrivals, s.late, s.attempts, s.deliveries, s.failures, s.limit, s.response,
         s.peak_in_flight, kind_counts(s.kinds))
        for s in m.seconds
    ]  # fmt: skip
    wire = {
        "counters": {name: getattr(m, name) for name in _SUMMED},
        "max_attempts_per_notification": m.max_attempts_per_notification,
        "duration_s": m.duration_s,
        "arrival_window_s": m.arrival_window_s,
        "late_threshold_s": m.late_threshold_s,
        "first_late_s": m.first_late_s,
        "by_outcome": dict(m.by_outcome),
        "latency": m.latency.encode(),
        "response": m.response.encode(),
        "loop_lag": m.loop_lag.encode(),
        "timeline": [(p.t_s, p.limit, p.failure_rate, p.attempts) for p in m.timeline],
        "seconds": seconds,
    }
    if m.detailed:  # else merged from an old shard: passed on as what it is, a part
        wire["samples"] = sample_wire(m.samples)
        wire["slowest"] = slow_wire(m.slowest.ranked())
    return wire


def merge(wires: list[dict[str, Any]]) -> Metrics:
    """One Metrics for several workers (in index order): counters add up (so do the workers'
    shares of the cap and their in-flight peaks, each an upper bound), histograms merge exactly,
    the slowest are the slowest of all, an outcome's sample is the first worker's.
    A wire written before samples and per-second kinds were (an old shard's) leaves the merged
    metrics without them (`detailed` False): a part must not pass for the whole."""
    merged = Metrics(cap=0)
    merged.limit = merged.min_limit = 0
    seconds: dict[int, Second] = {}
    responses: dict[int, HdrHistogram] = {}
    for wire in wires:
        for name, value in wire["counters"].items():
            setattr(merged, name, getattr(merged, name) + value)
        merged.max_attempts_per_notification = max(
            merged.max_attempts_per_notification, wire["max_attempts_per_notification"]
        )
        merged.duration_s = max(merged.duration_s, wire["duration_s"])
        merged.arrival_window_s = max(merged.arrival_window_s, wire["arrival_window_s"])
        merged.late_threshold_s = max(merged.late_threshold_s, wire["late_threshold_s"])
        if (first := wire.get("first_late_s")) is not None:
            merged.first_late_s = max(first, merged.first_late_s or first)
        merged.by_outcome.update(wire["by_outcome"])
        for name in ("latency", "response", "loop_lag"):
            getattr(merged, name).decode_and_add(wire[name])
        merged.timeline += [ThrottlePoint(*point) for point in wire["timeline"]]
        merged.detailed &= "samples" in wire and "slowest" in wire
        for row in wire["seconds"]:
            # Eight entries in a shard written before the in-flight peak and kinds were.
            t, arrivals, late, attempts, deliveries, failures, limit, response, *more = row
            entry = seconds.setdefault(t, Second(t))
            if len(more) == 2:
                entry.peak_in_flight += more[0]
                add_counts(entry.kinds, more[1])
            else:
                merged.detailed = False
            entry.arrivals += arrivals
            entry.late += late
            entry.attempts += attempts
            entry.deliveries += deliveries
            entry.failures += failures
            entry.limit += limit
            if response is not None:
                responses.setdefault(t, new_histogram()).decode_and_add(response)
    for t, histogram in responses.items():
        seconds[t].response = histogram.encode()
    merged.timeline.sort(key=lambda p: p.t_s)
    if merged.detailed:
        merged.samples = first_samples(samples_from(w["samples"]) for w in wires)
        for slow in slowest_of(slowest_from(w["slowest"]) for w in wires):
            merged.slowest.offer(slow)
    merged.seconds = [seconds[t] for t in sorted(seconds)]
    return merged
