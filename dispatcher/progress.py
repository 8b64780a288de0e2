"""Live progress of a run: a rich panel on a terminal (for `run`, a bar with its ETA too), a
plain line every few seconds in logs. Running a command's work under it is
`dispatcher.running`'s.

It only reads the engine's metrics; the engine never knows it is being watched.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from .engine import Engine
from .metrics import Metrics
from .signals import SIGNALS, until_signalled

if TYPE_CHECKING:
    from .load import LoadPlan
    from .settings import Settings

T = TypeVar("T")
SAMPLE = 200  # processes generated to estimate how many notifications a run sends


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


def planned(settings: Settings, plan: LoadPlan) -> int | None:
    """About how many notifications `run` sends: the bar's total, that its ETA is taken from.
    Counted on a sample of its processes, generated as the run generates them (a process sends
    one to three, and duplicates); None for a load test, which runs for a duration."""
    from .traffic import TrafficPlan

    if plan.count is None:
        return None
    traffic = TrafficPlan.of(settings, plan.traffic, plan.count, plan.payload)
    sample = min(plan.count, SAMPLE)
    per_process = sum(len(traffic.process(i)) for i in range(sample)) / max(sample, 1)
    return math.ceil(per_process * plan.count / plan.shard.count)


def _eta(done: int, total: int, elapsed_s: float) -> str:
    """The time left at the pace so far: `1m05s`, `12s`; `-` before anything is done."""
    if done <= 0 or elapsed_s <= 0:
        return "-"
    left = round(elapsed_s * max(total - done, 0) / done)
    return f"{left // 60}m{left % 60:02d}s" if left >= 60 else f"{left}s"


class Board:
    """What progress shows, look after look: the figures and, given a total (`run`), a bar of
    the notifications done of about how many, their rate, the ETA and the outcomes so far."""

    def __init__(self, total: int | None, clock: Any = time.perf_counter) -> None:
        self.total, self._clock = total, clock
        self._rate, self._started = _Rate(), clock()
        self._since: float | None = None  # when sending began: the pace is taken from then
        self.bar = Progress(
            TextColumn("notifications"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}/s  ETA {task.fields[eta]}  {task.fields[outcome]}"),
            auto_refresh=False,
        )  # fmt: skip
        self._task: TaskID = self.bar.add_task("run", total=total, rate="-", eta="-", outcome="")

    def look(self, m: Metrics, *, final: bool = False) -> tuple[dict[str, str], float]:
        """The figures now, and the seconds since the start; with a total, the bar moves on
        (the last look of a run that ended by itself fills it: the estimate becomes exact)."""
        figures = _figures(m, self._rate.update(m.delivered))
        now, done = self._clock(), m.final
        if self._since is None and m.scheduled:
            # Not from the start: workers take a second or two to start, and --start-at waits;
            # unless this first look comes late (a log line), with work already done.
            self._since = self._started if done else now
        if self.total is not None:
            # Interrupted, the rest will not be sent: no time left to estimate, and not done.
            stopped = SIGNALS.first is not None
            total = done if final and not stopped else max(self.total, m.scheduled, done)
            outcome = f"delivered {m.delivered}, exhausted {m.exhausted}, cancelled {m.cancelled}"
            took = now - (now if self._since is None else self._since)
            eta = "stopped" if stopped else "done" if final else _eta(done, total, took)
            figures["eta"] = eta
            pace = f"{done / took:.0f}" if took > 0 else "-"
            self.bar.update(self._task, completed=done, total=total, rate=pace, eta=eta,
                            outcome=outcome)  # fmt: skip
        return figures, now - self._started

    def view(self, figures: dict[str, str]) -> RenderableType:
        table = _table({k: v for k, v in figures.items() if k != "eta"})
        return table if self.total is None else Group(table, self.bar.get_renderable())


async def watch(
    engine: Engine, console: Console, *, every_s: float | None = None, total: int | None = None
) -> None:
    """Show progress until cancelled (the caller cancels it when the run ends)."""
    board = Board(total)
    if console.is_terminal:
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            try:
                while True:
                    live.update(board.view(board.look(engine.metrics)[0]))
                    await asyncio.sleep(every_s or 0.5)
            finally:  # the last look: the run's end, as it ended
                live.update(board.view(board.look(engine.metrics, final=True)[0]), refresh=True)
    while True:
        await asyncio.sleep(every_s or 5.0)
        console.print(_line(*board.look(engine.metrics)), highlight=False)


class Ticker:
    """Progress shown from a loop of the caller's (the workers' parent), at most every
    `every_s`: a panel on a terminal, a line in logs; nothing without a console (--quiet)."""

    def __init__(
        self, console: Console | None, every_s: float | None = None, total: int | None = None
    ) -> None:
        self.console = console
        terminal = console is not None and console.is_terminal
        self.every_s = every_s or (0.5 if terminal else 5.0)
        self._board = Board(total)
        self._next = time.perf_counter() + self.every_s
        self._live: Live | None = None

    def __call__(self, m: Metrics) -> None:
        now = time.perf_counter()
        if self.console is None or now < self._next:
            return
        self._next = now + self.every_s
        figures, elapsed = self._board.look(m)
        if not self.console.is_terminal:
            self.console.print(_line(figures, elapsed), highlight=False)
            return
        if self._live is None:
            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.start()
        self._live.update(self._board.view(figures), refresh=True)

    def __enter__(self) -> Ticker:
        return self

    def finish(self, m: Metrics) -> None:
        """The last look: the run's end, as it ended (`m`: every worker's final figures)."""
        if self._live is not None:
            self._live.update(self._board.view(self._board.look(m, final=True)[0]), refresh=True)

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()


def warn(message: str) -> None:
    Console(stderr=True).print(message)


async def watched(
    engine: Engine, work: Coroutine[Any, Any, T], console: Console | None = None,
    every_s: float | None = None, total: int | None = None,
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
        watching = watch(engine, console, every_s=every_s, total=total) if console else None
        watcher = watching and tg.create_task(watching)
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
