"""The event loop's clock, as the engine measures it: its resolution and its lag."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ..saturation import WARMUP_S

LAG_PROBE_S = 0.01


def clock_resolution(
    loop: asyncio.AbstractEventLoop, clock: Callable[[], float] = time.perf_counter
) -> float:
    """The smallest step the event loop's clock takes, timed on `clock`: uvloop's ticks in
    whole milliseconds, asyncio's in far less. Lateness finer than a few ticks is rounding, not
    delay. When `clock` is the loop's own (virtual time, where neither moves while this runs),
    there is no rounding between the two: 0."""
    if clock == loop.time:
        return 0.0
    first = loop.time()
    spin_until = clock() + 0.01
    while clock() < spin_until:
        step = loop.time() - first
        if step > 0:
            return step
    return 0.01


async def watch_loop_lag(
    clock: Callable[[], float], since: float, record: Callable[[float], None]
) -> None:
    """How late the event loop runs a 10 ms timer: the sender's own saturation. Runs until
    cancelled; `since` is `clock` at the run's start."""
    while True:
        expected = clock() + LAG_PROBE_S
        await asyncio.sleep(LAG_PROBE_S)
        now = clock()
        if now - since >= WARMUP_S:  # the start-up transient is not the steady state
            record(max(0.0, now - expected))
