"""Where a command's words and files go: the console (every secret masked on the way out), the
files it was asked to write (checked before any work, so a typo costs no run), and the stop
messages of a run an engine drives."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import IO, Any, TypeVar, cast

from rich.console import Console

from .. import outfiles, progress
from ..engine import Engine
from ..load import run_fast as run_fast  # the commands' event loop
from ..redact import ScrubbingStream
from ..report import AnyReport, writable, write_json, write_text
from ..settings import Settings
from ..signals import SIGNALS, until_signalled

T = TypeVar("T")


class Outputs:
    """The files a command was asked to write, by option name, and its console. A report going
    to stdout (`-`) moves the console to stderr, so the two never mix."""

    def __init__(self, width: int | None = None, **paths: Path | None) -> None:
        self.paths = paths
        for name, path in paths.items():
            if path is not None:
                writable(path, "--" + name.replace("_", "-"))
        taken = any(p is not None and outfiles.to_stdout(p) for p in paths.values())
        stream = cast(IO[str], ScrubbingStream(sys.stderr if taken else sys.stdout))
        self.console = Console(highlight=False, soft_wrap=True, file=stream)
        if width and not self.console.is_terminal:
            # Logs and pipes have no width; rich would assume 80 and fold every table.
            self.console = Console(highlight=False, soft_wrap=True, width=width, file=stream)

    def save(self, name: str, content: str | AnyReport, said: str | None = None) -> None:
        """Write `content` where option `name` asked, if it did; `said`: what to call it."""
        if (path := self.paths.get(name)) is None:
            return
        if isinstance(content, str):
            write_text(path, content)
        else:
            write_json(path, content)
        if said:
            self.console.print(f"{said} written to {path}")


def warn(message: str) -> None:
    Console(stderr=True).print(message)


def warn_insecure(settings: Settings) -> None:
    if settings.insecure:
        warn("[yellow]warning: --insecure: TLS certificates are not verified[/yellow]")


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

    async with asyncio.TaskGroup() as tg:
        watcher = console and tg.create_task(progress.watch(engine, console, every_s=every_s))
        try:
            result = await until_signalled(
                work, graceful=graceful, now=lambda: engine.stop(now=True)
            )
        finally:
            if watcher:
                watcher.cancel()
    assert result is not None, "a stop ends the engine's run, it never cancels it"
    return result
