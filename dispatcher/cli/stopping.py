"""Stopping a run that an engine drives (`send`, `run`, `load` on one worker): the first
SIGINT/SIGTERM stops it gracefully, with the engine's grace for what is in flight, a second
at once. The run is never cancelled: it ends, and its report is written."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from rich.console import Console

from .. import progress
from ..engine import Engine
from ..signals import SIGNALS, until_signalled
from .output import warn

T = TypeVar("T")


async def watched(
    engine: Engine,
    work: Coroutine[Any, Any, T],
    *,
    console: Console | None = None,
    every_s: float | None = None,
) -> T:
    """Run `work` (which runs `engine`), with live progress on `console` when given."""

    def graceful() -> None:
        engine.stop()
        name = SIGNALS.first.name if SIGNALS.first else "signal"
        warn(
            f"{name}: stopping; in-flight requests get {engine.options.grace_s:g} s "
            "(again to stop now)"
        )

    async with asyncio.TaskGroup() as tg:
        watcher = (
            tg.create_task(progress.watch(engine, console, every_s=every_s))
            if console is not None
            else None
        )
        try:
            result = await until_signalled(
                work, graceful=graceful, now=lambda: engine.stop(now=True)
            )
        finally:
            if watcher is not None:
                watcher.cancel()
    if result is None:  # pragma: no cover - a stop ends the engine's run, it never cancels it
        raise RuntimeError("the run was cancelled")
    return result
