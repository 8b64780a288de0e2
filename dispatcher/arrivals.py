"""When each arrival of an open-model load test is meant to start: pure functions of a rate profile.

A profile is a piecewise-linear rate over time (`--rate R --duration D` is the flat case;
`--ramp 0:50,30s:2000,60s:2000` climbs from 50/s to 2,000/s in 30 s, then holds). The i-th
arrival is due when the integral of the rate reaches i, so a ramp is honoured exactly, not in
steps. Intended instants are what latency is measured from (coordinated-omission correction).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import ConfigError
from .settings import shown

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$", re.ASCII)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
# A week: far beyond any test, and small enough that a schedule's arrival count stays exact
# in a float (MAX_RATE * MAX_DURATION_S < 2**53).
MAX_DURATION_S = 7 * 24 * 3600.0
MAX_RATE = 1_000_000.0  # arrivals per second, as --rate allows


def parse_duration(text: str, *, flag: str = "--duration") -> float:
    """`10`, `10s`, `2m`, `1h`, `500ms` → seconds, at most MAX_DURATION_S."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(
            f"{flag} = {shown(text)}: not a duration (examples: 10, 10s, 2m, 1h, 500ms)"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not seconds <= MAX_DURATION_S:  # also inf, from a number of hundreds of digits
        raise ConfigError(f"{flag} = {shown(text)}: at most {MAX_DURATION_S / 3600:g}h (a week)")
    return seconds


@dataclass(frozen=True, slots=True)
class RateProfile:
    points: tuple[tuple[float, float], ...]  # (seconds from start, arrivals per second)

    @classmethod
    def constant(cls, rate: float, duration_s: float) -> RateProfile:
        return cls(((0.0, rate), (duration_s, rate)))

    @classmethod
    def parse_ramp(cls, text: str) -> RateProfile:
        """`0:50,30s:2000,60s:2000`: TIME:RATE points, times rising from 0."""
        points: list[tuple[float, float]] = []
        for part in text.split(","):
            when, sep, rate = part.partition(":")
            if not sep:
                raise ConfigError(
                    f"--ramp = {shown(text)}: {shown(part)} is not TIME:RATE (e.g. 30s:2000)"
                )
            t = parse_duration(when, flag="--ramp")
            try:
                r = float(rate)
            except ValueError:
                raise ConfigError(
                    f"--ramp = {shown(text)}: rate {shown(rate)} is not a number"
                ) from None
            if not 0 <= r <= MAX_RATE:  # also nan and inf
                raise ConfigError(
                    f"--ramp = {shown(text)}: rate {shown(rate)} must be from 0 to "
                    f"{MAX_RATE:.0f} per second"
                )
            points.append((t, r))
        if points[0][0] != 0:
            raise ConfigError(f"--ramp = {shown(text)}: the first point must be at time 0")
        if len(points) < 2 or any(b[0] <= a[0] for a, b in itertools.pairwise(points)):
            raise ConfigError(f"--ramp = {shown(text)}: needs two or more points with rising times")
        profile = cls(tuple(points))
        if profile.total < 1:
            raise ConfigError(f"--ramp = {shown(text)}: asks for less than one arrival in all")
        return profile

    @property
    def duration_s(self) -> float:
        return self.points[-1][0]

    @property
    def total(self) -> float:
        """Arrivals the profile asks for over its whole duration."""
        return sum(
            (ra + rb) / 2 * (tb - ta) for (ta, ra), (tb, rb) in itertools.pairwise(self.points)
        )

    def offset_at(self, i: int) -> float | None:
        """Seconds from the start at which arrival `i` is due; None past the duration. Each
        arrival is computed on its own, so a sender with every Nth arrival computes only its
        own (a few segments' arithmetic each)."""
        done = 0.0  # arrivals due before the current segment
        for (ta, ra), (tb, rb) in itertools.pairwise(self.points):
            span = tb - ta
            in_segment = (ra + rb) / 2 * span
            k = i - done
            if k < in_segment:
                # The root of ra*tau + slope*tau^2/2 = k, in the form that stays exact when
                # the slope is zero or the starting rate is.
                slope = (rb - ra) / span
                denominator = ra + math.sqrt(max(0.0, ra * ra + 2 * slope * k))
                if denominator > 0 or k <= 0:
                    tau = 2 * k / denominator if denominator > 0 else 0.0
                    if ta + tau < tb:
                        return ta + tau
            done += in_segment
        return None

    @property
    def arrivals(self) -> int:
        """How many arrivals the schedule holds: the first index `offset_at` has no instant for."""
        n = max(0, int(self.total))
        while self.offset_at(n) is not None:
            n += 1
        while n > 0 and self.offset_at(n - 1) is None:
            n -= 1
        return n

    def offsets(self) -> Iterator[float]:
        """Seconds from the start at which arrival 0, 1, 2, ... is due, within the duration."""
        for i in range(self.arrivals):
            offset = self.offset_at(i)
            assert offset is not None  # below `arrivals`, every index has its instant
            yield offset
