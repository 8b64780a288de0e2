"""An asyncio event loop on virtual time.

Whenever nothing is ready to run, the loop's clock jumps to its next timer instead of waiting
for it (trio's MockClock with autojump_threshold=0): `asyncio.sleep(3600)` returns at once,
with `loop.time()` an hour later. Everything asyncio times through the loop (call_later,
asyncio.sleep, asyncio.timeout, asyncio.wait's timeout) runs on this clock, in the order the
instants say, whatever else the machine is doing.

Give the engine the same clock for its latencies: `EngineOptions(clock=loop.time)`.

Real I/O still works, but time no longer waits for it: a socket or a thread that has not
answered yet when the loop runs out of work loses the race to every timer. A loop with neither
timers nor anything ready blocks for real, as a deadlock would; `run` bounds its coroutine with
a virtual timeout so that a deadlock is a TimeoutError, not a hang.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _AutojumpSelector(selectors.DefaultSelector):
    """Polls the real selector without blocking; with nothing ready, advances the clock by the
    timeout the loop asked to wait (the time to its next timer) instead."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:
            return super().select(None)  # no timer at all: only I/O or a thread can wake it
        self._loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock moves only by jumping to its next timer (or `advance`)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        super().__init__(selector=_AutojumpSelector(self))

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock on by `seconds`, as if the loop had been busy that long (a callback
        that blocks the loop can call this to stand for its own duration)."""
        if seconds < 0:
            raise ValueError("virtual time never runs backwards")
        self._now += seconds


def run(main: Coroutine[Any, Any, T], *, start: float = 0.0, timeout_s: float = 86400.0) -> T:
    """Run `main` on a new VirtualTimeLoop, as asyncio.run does on a real one; a `main` still
    running after `timeout_s` of virtual time is cancelled (TimeoutError)."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout_s):
            return await main

    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(start)) as runner:
        return runner.run(bounded())


async def sleep_until(when: float) -> None:
    """Sleep until the running loop's clock reads `when` (a test's "at t = 2 s, ...")."""
    loop = asyncio.get_running_loop()
    woken = loop.create_future()
    handle = loop.call_at(when, woken.set_result, None)
    try:
        await woken
    finally:
        handle.cancel()
