"""Live progress of a run: a rich panel on a terminal, a plain line every few seconds in logs.

It only reads the engine's metrics; the engine never knows it is being watched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from rich.console import Console
from rich.live import Live
from rich.table import Table

from .engine import Engine
from .metrics import Metrics
from .signals import SIGNALS, until_signalled

T = TypeVar("T")


class _Rate:
    """Deliveries per second between two looks."""

    def __init__(self) -> None:
        self._last = (time.perf_counter(), 0)

    def update(self, delivered: int) -> float:
        now = time.perf_counter()
        then, before = self._last
        self._last = (now, delivered)
        return (delivered - before) / (now - then) if now > then else 0.0


def _figures(m: Metrics, rate: float) -> dict[str, str]:
    snap = m.snapshot()
    latency = snap["latency_ms"]

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    return {
        "scheduled": str(snap["scheduled"]),
        "in flight": str(snap["in_flight"]),
        "delivered": str(snap["delivered"]),
        "retrying": str(snap["retrying"]),
        "exhausted": str(snap["exhausted"]),
        "cancelled": str(snap["cancelled"]),
        "limit": f"{snap['limit']}/{m.cap}",
        "failure rate": f"{snap['failure_rate']:.0%}",
        "deliveries/s": f"{rate:.0f}",
        "p50 ms": ms(latency["p50"]),
        "p99 ms": ms(latency["p99"]),
    }


def _line(figures: dict[str, str], elapsed_s: float) -> str:
    """The figures as one log line: `[  5.0s] scheduled=... delivered=...`."""
    pairs = " ".join(f"{k.replace(' ', '_')}={v}" for k, v in figures.items())
    return f"[{elapsed_s:6.1f}s] {pairs}"


def _table(figures: dict[str, str]) -> Table:
    table = Table(show_header=True, title="webhook-sim run", title_justify="left")
    for name in figures:
        table.add_column(name, justify="right")
    table.add_row(*figures.values())
    return table


async def watch(engine: Engine, console: Console, *, every_s: float | None = None) -> None:
    """Show progress until cancelled (the caller cancels it when the run ends)."""
    rate = _Rate()
    if console.is_terminal:
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            while True:
                live.update(_table(_figures(engine.metrics, rate.update(engine.metrics.delivered))))
                await asyncio.sleep(every_s or 0.5)
    started = time.perf_counter()
    while True:
        await asyncio.sleep(every_s or 5.0)
        figures = _figures(engine.metrics, rate.update(engine.metrics.delivered))
        console.print(_line(figures, time.perf_counter() - started), highlight=False)


class Ticker:
    """Progress shown from a loop of the caller's (the workers' parent), at most every
    `every_s`: a panel on a terminal, a line in logs."""

    def __init__(self, console: Console, every_s: float | None = None) -> None:
        self.console = console
        self.every_s = every_s or (0.5 if console.is_terminal else 5.0)
        self._rate = _Rate()
        self._started = time.perf_counter()
        self._next = self._started + self.every_s
        self._live: Live | None = None

    def __call__(self, m: Metrics) -> None:
        now = time.perf_counter()
        if now < self._next:
            return
        self._next = now + self.every_s
        figures = _figures(m, self._rate.update(m.delivered))
        if not self.console.is_terminal:
            self.console.print(_line(figures, now - self._started), highlight=False)
            return
        if self._live is None:
            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.start()
        self._live.update(_table(figures), refresh=True)

    def __enter__(self) -> Ticker:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()


def warn(message: str) -> None:
    Console(stderr=True).print(message)


async def watched(
    engine: Engine, work: Coroutine[Any, Any, T], console: Console | None = None,
    every_s: float | None = None,
) -> T:  # fmt: skip
    """Run `work` (which runs `engine`), with live progress on `console` when given. The first
    SIGINT/SIGTERM stops the engine with its grace for what is in flight, a second at once:
    the run ends, it is never cancelled, and its report is written."""

    def graceful() -> None:
        engine.stop()
        name, grace = SIGNALS.first.name if SIGNALS.first else "signal", engine.options.grace_s
        warn(f"{name}: stopping; in-flight requests get {grace:g} s (again to stop now)")

    failure: Exception | None = None
    async with asyncio.TaskGroup() as tg:
        watcher = console and tg.create_task(watch(engine, console, every_s=every_s))
        try:
            result = await until_signalled(
                work, graceful=graceful, now=lambda: engine.stop(now=True)
            )
        except Exception as exc:  # raised as itself below, not inside the group's ExceptionGroup
            failure = exc
        finally:
            if watcher:
                watcher.cancel()
    if failure is not None:
        raise failure
    assert result is not None, "a stop ends the engine's run, it never cancels it"
    return result
