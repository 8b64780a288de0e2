"""Where a command's words and files go: the console (every secret masked on the way out), the
report files (checked before any work, so a typo costs no run), and the stop messages."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import IO, Any, TypeVar, cast

from rich.console import Console

from .. import outfiles
from ..redact import ScrubbingStream
from ..report import writable
from ..settings import Settings

T = TypeVar("T")


class Outputs:
    """The files a command was asked to write. A report going to stdout (`-`) moves the
    console to stderr, so the two never mix."""

    def __init__(self, **paths: Path | None) -> None:
        self.paths = paths
        self.stdout_taken = False
        for name, path in paths.items():
            if path is not None:
                writable(path, "--" + name.replace("_", "-"))
                self.stdout_taken |= outfiles.to_stdout(path)

    def console(self, width: int | None = None) -> Console:
        stream = cast(IO[str], ScrubbingStream(sys.stderr if self.stdout_taken else sys.stdout))
        console = Console(highlight=False, soft_wrap=True, file=stream)
        if width and not console.is_terminal:
            # Logs and pipes have no width; rich would assume 80 and fold every table.
            console = Console(highlight=False, soft_wrap=True, width=width, file=stream)
        return console


def warn(message: str) -> None:
    Console(stderr=True).print(message)


def warn_insecure(settings: Settings) -> None:
    if settings.insecure:
        warn("[yellow]warning: --insecure: TLS certificates are not verified[/yellow]")


def run_fast(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop where it is installed (it roughly halves the event loop's cost)."""
    from ..load import new_loop

    with asyncio.Runner(loop_factory=new_loop) as runner:
        return runner.run(coro)
