"""Throttling decisions: the AIMD in-flight limit and the request-start pacer.

Both are pure or clock-injected so they can be tested on a fake clock: `aimd_decide` is a
function of one window's counts, and `Pacer` is told the time instead of reading it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AimdParams:
    window_s: float = 1.0  # how long one observation window lasts at least
    min_samples: int = 20  # completed attempts a window needs before it counts
    threshold: float = 0.2  # failure rate above which the limit is cut
    decrease: float = 0.5  # multiplicative cut
    floor: int = 1


@dataclass(frozen=True, slots=True)
class WindowStats:
    attempts: int
    failures: int

    @property
    def failure_rate(self) -> float:
        return self.failures / self.attempts if self.attempts else 0.0


def aimd_decide(limit: int, cap: int, window: WindowStats, params: AimdParams) -> int:
    """The in-flight limit for the next window.

    Above the threshold the limit is cut multiplicatively (TCP's congestion response); in a
    healthy window it grows by ceil(sqrt(limit)), which climbs back from 1 to 500 in about
    40 windows rather than 500, while staying gentle near the receiver's breaking point.
    """
    if window.attempts < params.min_samples:
        return limit
    if window.failure_rate > params.threshold:
        return max(params.floor, min(cap, math.floor(limit * params.decrease)))
    return min(cap, limit + math.ceil(math.sqrt(limit)))


class Pacer:
    """Spaces request starts at most `rate` per second, evenly, with no bursts.

    A start is granted at `max(now, previous grant + 1/rate)`: the generic cell rate algorithm
    with a burst tolerance of one request. Unlike a token bucket polled on a timer (such as
    asyncio-throttle, which checks every 10 ms and so lets a slice's worth of requests out at
    once), a late caller is never "owed" a burst: idle time is not banked.
    """

    def __init__(self, rate: float) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        self.period = 1.0 / rate
        self._next = -math.inf

    def reserve(self, now: float) -> float:
        """Claim the next start; return how long the caller must wait before starting."""
        start = max(now, self._next)
        self._next = start + self.period
        return start - now
