"""What a run measured: counters, HDR latency histograms and the throttle timeline.

A `Metrics` is owned and mutated by one engine run only; everyone else reads `snapshot()`.
Memory does not grow with the number of notifications: there is no per-notification record.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

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
    max_attempts_per_notification: int = 0
    retries_waiting: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    limit: int = 0
    min_limit: int = 0
    by_outcome: Counter[str] = field(default_factory=Counter)
    latency: HdrHistogram = field(default_factory=new_histogram)
    timeline: list[ThrottlePoint] = field(default_factory=list)
    window_attempts: int = 0
    window_failures: int = 0
    duration_s: float = 0.0

    def __post_init__(self) -> None:
        self.limit = self.min_limit = self.cap

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
