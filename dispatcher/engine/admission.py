"""Whether a send may start now: the in-flight limit, a Retry-After pause, the pacer."""

from __future__ import annotations

import math

from ..settings import Settings
from ..throttle import AimdLimiter, AimdParams, Pacer, WindowStats


class Admission:
    """The one place that says whether a send may start, and when one may.

    A send needs a slot under the in-flight limit (the cap, cut by AIMD while the receiver
    fails), no Retry-After pause running (a receiver that asked for air gets it from every
    send, not only the one it answered), and its turn at the pacer (--max-rate). Retries and
    fresh notifications alike. Told the time, it never reads a clock.
    """

    def __init__(
        self,
        cap: int,
        *,
        aimd: AimdParams | None,
        max_rate: float | None,
        now: float,
        phase: float = 0.0,
    ) -> None:
        self.in_flight = 0
        self.limiter = AimdLimiter(cap, aimd, now=now)
        self._pacer = Pacer(max_rate, first_at=now + phase / max_rate) if max_rate else None
        self._paused_until = -math.inf

    @classmethod
    def for_settings(cls, settings: Settings, *, now: float, phase: float = 0.0) -> Admission:
        """`phase` (0..1): this sender's place among senders that share a --max-rate evenly,
        its first start that fraction of its own period late, so theirs interleave."""
        throttle = settings.throttle
        aimd = (
            AimdParams(
                window_s=throttle.window_s,
                min_samples=throttle.min_samples,
                threshold=throttle.threshold,
                decrease=throttle.decrease,
            )
            if throttle.enabled
            else None
        )
        return cls(
            settings.concurrency, aimd=aimd, max_rate=settings.max_rate, now=now, phase=phase
        )

    @property
    def limit(self) -> int:
        return self.limiter.limit

    def busy(self, now: float) -> bool:
        """No send may start now: every slot under the limit is taken, or a pause is running."""
        return self.in_flight >= self.limiter.limit or self._paused_until > now

    def resumes_at(self, now: float) -> float:
        """When the running pause ends; inf without one (a slot frees when an attempt ends,
        which is no instant to wait for)."""
        return self._paused_until if self._paused_until > now else math.inf

    def turn(self, now: float) -> float:
        """When the pacer lets out a send that may start at `now`; the turn is claimed."""
        return now if self._pacer is None else now + self._pacer.reserve(now)

    def pause(self, now: float, seconds: float) -> None:
        self._paused_until = max(self._paused_until, now + seconds)

    def enter(self) -> int:
        """A send started: it holds a slot. Returns how many are held."""
        self.in_flight += 1
        return self.in_flight

    def leave(self) -> int:
        self.in_flight -= 1
        return self.in_flight

    def observe(self, now: float, ok: bool) -> WindowStats | None:
        """An attempt ended: AIMD counts it. Returns the window it closed (the limit was decided
        on it), or None."""
        return self.limiter.record(now, ok)
