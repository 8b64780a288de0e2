"""Throttling decisions: the AIMD in-flight limit and the request-start pacer.

All are pure or clock-injected so they can be tested on a fake clock: `aimd_decide` is a
function of one window's counts, and `AimdLimiter` and `Pacer` are told the time instead of
reading it.
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


class AimdLimiter:
    """The in-flight limit and the window of attempts it is decided on: the whole AIMD state.

    Told each attempt's outcome and the time, it closes the window once it has lasted
    `window_s` and holds `min_samples` attempts, and sets the limit for the next one. Without
    params (the throttle is off) it only counts, and the limit stays at the cap.
    """

    def __init__(self, cap: int, params: AimdParams | None, *, now: float) -> None:
        self.cap = self.limit = cap
        self.params = params
        self.attempts = self.failures = 0  # of the open window
        self._window_start = now

    def record(self, now: float, ok: bool) -> WindowStats | None:
        """Count an attempt; return the window this one closed (the limit is now decided on
        it), or None while the window is still open."""
        self.attempts += 1
        self.failures += not ok
        params = self.params
        if params is None:
            return None
        if now - self._window_start < params.window_s or self.attempts < params.min_samples:
            return None
        window = WindowStats(self.attempts, self.failures)
        self.limit = aimd_decide(self.limit, self.cap, window, params)
        self.attempts = self.failures = 0
        self._window_start = now
        return window


class Pacer:
    """Spaces request starts at most `rate` per second, evenly, with no bursts.

    The generic cell rate algorithm: each start is granted at
    `max(now, theoretical start - tolerance)`, and the theoretical schedule then moves on by
    exactly one period. The small tolerance (5 ms) lets a caller who woke late catch up with
    the schedule instead of drifting behind it (asyncio's timers oversleep by about a
    millisecond, which at 1,000/s loses a tenth of the rate), while idle time is never banked
    beyond it: no 10 ms slice can get more than 1.5x its share, plus one.

    asyncio-throttle, by contrast, keeps a sliding one-second log polled every 10 ms: it lets
    the whole second's allowance out at once, then in 10 ms clumps (docs/benchmarks.md).
    """

    def __init__(
        self, rate: float, *, tolerance_s: float = 0.005, first_at: float = -math.inf
    ) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        self.period = 1.0 / rate
        self.tolerance_s = tolerance_s
        self._tat = first_at  # theoretical start of the next request

    def reserve(self, now: float) -> float:
        """Claim the next start; return how long the caller must wait before starting."""
        start = max(now, self._tat - self.tolerance_s)
        self._tat = max(self._tat, start) + self.period
        return start - now
