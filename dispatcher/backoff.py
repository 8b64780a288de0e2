"""Retry timing as pure functions: attempt number in, seconds out. No clock, no sleeping.

The schedule is exponential from the configured interval (interval, 2x, 4x, ...) capped at
`max_interval_s`, with up to `jitter` of extra random spread so that a fleet of failed
notifications does not come back as one synchronised wave (the thundering herd stamina and
the AWS architecture blog warn about). Jitter only ever lengthens a wait, so the documented
interval is a floor a receiver can rely on.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal


def backoff_delay(
    attempt: int, *, interval_s: float, max_interval_s: float, jitter: float, rand: float
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based); `rand` is in [0, 1)."""
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    exponent = min(attempt - 1, 1023)  # 2.0**1024 overflows; the cap has long applied by then
    nominal = min(max_interval_s, interval_s * 2.0**exponent)
    return min(max_interval_s, nominal * (1.0 + jitter * rand))


def backoff_bounds(
    attempt: int, *, interval_s: float, max_interval_s: float, jitter: float
) -> tuple[float, float]:
    """The interval `backoff_delay` stays inside for this attempt, whatever `rand` is."""
    low = backoff_delay(
        attempt, interval_s=interval_s, max_interval_s=max_interval_s, jitter=0, rand=0
    )
    return low, min(max_interval_s, low * (1.0 + jitter))


_DELAY_SECONDS = re.compile(r"[0-9]+")  # RFC 9110 10.2.3: 1*DIGIT, ASCII digits only


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """Seconds from `now_epoch` that a Retry-After header asks for (RFC 9110 section 10.2.3).

    Either delay-seconds (ASCII digits only: `str.isdigit` also takes "²" and "٣", which
    `float` then refuses) or an HTTP-date. Anything else is ignored, never an error: the value
    comes from the receiver, and a bad header must not end a run.
    """
    if value is None:
        return None
    value = value.strip(" \t")
    if _DELAY_SECONDS.fullmatch(value):
        # Thousands of digits are legal and still one finite float (or inf, capped later).
        return float(value) if len(value) < 300 else math.inf
    if not value.isascii() or len(value) > 64:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": RFC 5322's "no zone information", which HTTP means as GMT
        when = when.replace(tzinfo=datetime.UTC)
    try:
        seconds = when.timestamp() - now_epoch
    except (OverflowError, ValueError, OSError):
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def retry_delay(backoff_s: float, retry_after_s: float | None, retry_after_max_s: float) -> float:
    """A receiver's Retry-After wins over the backoff when longer, but never beyond the cap."""
    if retry_after_s is None:
        return backoff_s
    return max(backoff_s, min(retry_after_s, retry_after_max_s))


@dataclass(frozen=True, slots=True)
class RetryIn:
    """Try again after `delay_s`; if `pause_s` is set, the receiver asked for air (Retry-After,
    capped) and every send to it waits that long, not only this notification's."""

    delay_s: float
    pause_s: float | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The platform's retry rules as one value: the attempt budget, the backoff, Retry-After."""

    max_attempts: int
    interval_s: float
    max_interval_s: float
    jitter: float
    retry_after_max_s: float

    def decide(
        self, attempts: int, ok: bool, retry_after_s: float | None, rand: Callable[[], float]
    ) -> Literal["delivered", "exhausted"] | RetryIn:
        """What follows attempt number `attempts`. `rand` draws the jitter, in [0, 1); it is
        called only when there is a backoff to compute, so a seeded run draws the same values
        whatever the outcomes before."""
        if ok:
            return "delivered"
        if attempts >= self.max_attempts:
            return "exhausted"
        backoff = backoff_delay(
            attempts,
            interval_s=self.interval_s,
            max_interval_s=self.max_interval_s,
            jitter=self.jitter,
            rand=rand(),
        )
        delay = retry_delay(backoff, retry_after_s, self.retry_after_max_s)
        if retry_after_s is None:
            return RetryIn(delay)
        return RetryIn(delay, pause_s=min(retry_after_s, self.retry_after_max_s))
