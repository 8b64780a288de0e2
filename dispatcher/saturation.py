"""Who limited a load test's figures: the sender, the receiver (through the throttle), or nobody.

Pure functions of what a run counted, so the verdict can be tested on made-up numbers. The rule
errs on the side of not crying wolf: a sender that is late now and then (a timer that fires a
millisecond after its instant, a busy machine taking the CPU away for a few milliseconds) has
not limited the figures; one that stays late, second after second, or whose event loop lags
behind its timers, has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# An arrival that starts later than this after its instant, with a slot free, is late. Never
# below a few ticks of the event loop's clock: uvloop's ticks in whole milliseconds, so 2 ms of
# "lateness" can be nothing but rounding.
LATE_MIN_S = 0.010
LATE_CLOCK_TICKS = 4
# The start-up transient (the first connections, the first timers) is not the steady state.
WARMUP_S = 1.0
# Saturated: more than this share of the arrivals after the warm-up started late ...
LATE_SHARE = 0.01
# ... in at least this many distinct seconds (a lone stall is not a trend) ...
LATE_SECONDS = 3
# ... or the event loop ran its 10 ms probe timer this much late at p99 after the warm-up.
LAG_P99_MS = 20.0


def late_threshold_s(clock_resolution_s: float) -> float:
    return max(LATE_MIN_S, LATE_CLOCK_TICKS * clock_resolution_s)


@dataclass(frozen=True, slots=True)
class SenderVerdict:
    saturated: bool
    throttled: bool
    late_share: float  # late starts after the warm-up, over the arrivals after the warm-up
    late_seconds: int  # distinct seconds with a late start after the warm-up
    message: str  # one line for the console and the report; empty when there is nothing to say


def judge_sender(
    *,
    seconds: Sequence[tuple[int, int]],  # (arrivals, late starts) per second after the warm-up
    lag_p99_ms: float | None,
    cap: int,
    min_limit: int,
    queued: int,
) -> SenderVerdict:
    arrivals = sum(a for a, _ in seconds)
    late = sum(lt for _, lt in seconds)
    late_seconds = sum(1 for _, lt in seconds if lt)
    share = late / arrivals if arrivals else 0.0
    lagging = lag_p99_ms is not None and lag_p99_ms > LAG_P99_MS
    saturated = lagging or (share > LATE_SHARE and late_seconds >= LATE_SECONDS)
    throttled = min_limit < cap
    parts: list[str] = []
    if throttled:
        parts.append(
            f"throttled: the receiver's failures cut the in-flight limit to {min_limit} "
            f"(cap {cap}); {queued} arrivals waited for a slot"
        )
    if saturated:
        why = (
            f"event-loop lag p99 {lag_p99_ms:.1f} ms"
            if lagging
            else f"{share:.1%} of arrivals started late with a slot free, in {late_seconds} seconds"
        )
        # More workers cannot help what the throttle did: advise them only when it did nothing.
        advice = "a lower --rate" if throttled else "more --workers or a lower --rate"
        parts.append(
            f"the sender was saturated ({why}): these figures may be limited by webhook-sim, "
            f"not by the receiver; try {advice}"
        )
    return SenderVerdict(saturated, throttled, round(share, 4), late_seconds, "; ".join(parts))
