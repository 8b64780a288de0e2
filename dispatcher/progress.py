"""Live progress of a run: a rich panel on a terminal, a plain line every few seconds in logs.

It only reads the engine's metrics; the engine never knows it is being watched.
"""

from __future__ import annotations

import asyncio
import time

from rich.console import Console
from rich.live import Live
from rich.table import Table

from .engine import Engine
from .metrics import Metrics


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
        line = " ".join(f"{k.replace(' ', '_')}={v}" for k, v in figures.items())
        console.print(f"[{time.perf_counter() - started:6.1f}s] {line}", highlight=False)
