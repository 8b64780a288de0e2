"""Logs that hostile clients cannot blow up: one line per event, never a traceback, at most
`per_second` lines a second (the rest counted in one line).

aiohttp's request handler logs every malformed request and every handler exception with a
traceback, and asyncio's default handler does the same for each failed accept(); a client
sending garbage on purpose, or a flood of connections past the open-file limit, would otherwise
decide how big the log gets (75,000 traceback lines in 12 s, measured).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import traceback
from collections.abc import Coroutine, MutableMapping
from typing import Any, TypeVar

from aiohttp.http_exceptions import HttpProcessingError

Log = logging.LoggerAdapter[logging.Logger]
T = TypeVar("T")


class _Budget:
    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self._window = 0.0
        self._used = 0
        self._suppressed = 0

    def allow(self) -> tuple[bool, int]:
        """(may log now, lines suppressed since the last one allowed)."""
        now = time.monotonic()
        if now - self._window >= 1.0:
            self._window, self._used = now, 0
        if self._used >= self.per_second:
            self._suppressed += 1
            return False, 0
        self._used += 1
        missed, self._suppressed = self._suppressed, 0
        return True, missed


def describe(exc: BaseException | None, *, where: bool = False) -> str:
    """An exception as one short line; `where`: with the place a bug raised it (for logs only,
    never for an answer to a client)."""
    if exc is None:
        return ""
    text = " ".join(str(exc).split())
    line = f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if where and frames and not isinstance(exc, HttpProcessingError | OSError):
        # A bug in a handler: where it was raised is worth the few characters it costs.
        last = frames[-1]
        line += f" (at {last.filename}:{last.lineno} in {last.name})"
    return line


def _exception(exc_info: Any) -> BaseException | None:
    """The exception an `exc_info=` argument names."""
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple):
        return exc_info[1] if isinstance(exc_info[1], BaseException) else None
    return sys.exc_info()[1] if exc_info else None


class _OneLine(logging.LoggerAdapter[logging.Logger]):
    def __init__(self, logger: logging.Logger, per_second: int) -> None:
        super().__init__(logger, {})
        self._budget = _Budget(per_second)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        kwargs.pop("stack_info", None)
        exc = _exception(kwargs.pop("exc_info", None))
        if exc is not None:
            msg = f"{msg}: {describe(exc, where=True)}"
        return msg, kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if level >= logging.ERROR and isinstance(
            _exception(kwargs.get("exc_info")), HttpProcessingError
        ):
            # A request aiohttp could not parse is the client's mistake, not the server's.
            level = logging.INFO
        if not self.isEnabledFor(level):
            return
        allowed, missed = self._budget.allow()
        if not allowed:
            return
        if missed:
            self.logger.log(level, "(%d similar lines suppressed)", missed)
        super().log(level, msg, *args, **kwargs)


def one_line_logger(name: str, per_second: int = 20) -> Log:
    return _OneLine(logging.getLogger(name), per_second)


def quiet_loop_errors(log: Log) -> None:
    """The running loop's own errors (accept() failing with EMFILE, a transport error) as
    budgeted single lines."""

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        detail = f": {describe(exc, where=True)}" if isinstance(exc, BaseException) else ""
        log.error("%s%s", context.get("message", "event loop error"), detail)

    asyncio.get_running_loop().set_exception_handler(handler)


async def quietly(work: Coroutine[Any, Any, T], log: Log) -> T:
    """`work`, with the loop's own errors made single budgeted lines (quiet_loop_errors)."""
    quiet_loop_errors(log)
    return await work
