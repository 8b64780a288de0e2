"""One signal path for every command: SIGINT and SIGTERM, from start-up to exit.

The first signal asks for a graceful stop, the second for an immediate one, and every further
one is ignored until the process exits. The handlers are installed once, before anything heavy
is imported, and are never removed: a signal can arrive while a report is being written, and
it must not interrupt the writing. They never raise and never print; they record, and hand the
work to whoever is listening (an event loop, through `call_soon_threadsafe`, which is safe from
a signal handler), so a signal that arrives before a run has started stops the run the moment
it starts.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # asyncio is imported where it is used: this module loads before anything
    import asyncio

T = TypeVar("T")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Listener:
    __slots__ = ("first", "loop", "second")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        first: Callable[[], None],
        second: Callable[[], None],
    ) -> None:
        self.loop, self.first, self.second = loop, first, second


class StopSignals:
    """What the process has been asked: nothing, stop gracefully, or stop now."""

    def __init__(self) -> None:
        self.received: list[signal.Signals] = []
        self.active = False  # the handlers are ours
        self._listeners: list[_Listener] = []

    def install(self, early: list[int] | None = None) -> None:
        """Take over SIGINT and SIGTERM for the rest of the process's life (main thread only);
        `early` are signals a bare recorder caught before this module was imported."""
        self.received.clear()
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                signal.signal(sig, self.handle)
            self.active = True
        # Only now, with the recorder no longer called, is `early` final: read before the
        # switch, a signal handled in between would be lost (and the run never stopped).
        self.received[:0] = [signal.Signals(s) for s in early or ()]

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        """For callers that share the process (tests calling `main`): restore on the way out."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
        self.install()
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.active = False
            # What this call was asked is over with it: a later call in the same process (the
            # Python API after an interrupted `main`) must not find itself interrupted.
            self.received.clear()

    @property
    def first(self) -> signal.Signals | None:
        return self.received[0] if self.received else None

    def exit_code(self) -> int | None:
        """128 + the first signal, as shells report a death by signal: 130 or 143."""
        first = self.first
        return None if first is None else 128 + int(first)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signal.Signals(signum))
        count = len(self.received)
        if count > 2:
            return  # already stopping now: nothing more to ask for
        for listener in list(self._listeners):
            self._notify(listener, count)

    @staticmethod
    def _notify(listener: _Listener, count: int) -> None:
        action = listener.first if count == 1 else listener.second
        with contextlib.suppress(RuntimeError):  # that loop has closed meanwhile
            listener.loop.call_soon_threadsafe(action)

    @contextlib.contextmanager
    def listening(
        self,
        first: Callable[[], None],
        second: Callable[[], None] | None = None,
    ) -> Iterator[None]:
        """Call `first` on the running loop at the first signal, `second` at the second; what
        was received before this point is delivered at once, in order."""
        import asyncio

        listener = _Listener(asyncio.get_running_loop(), first, second or first)
        self._listeners.append(listener)
        for count in range(1, min(len(self.received), 2) + 1):
            self._notify(listener, count)
        try:
            yield
        finally:
            self._listeners.remove(listener)


SIGNALS = StopSignals()


async def until_signalled(
    work: Coroutine[Any, Any, T],
    *,
    graceful: Callable[[], None] | None = None,
    now: Callable[[], None] | None = None,
    signals: StopSignals = SIGNALS,
) -> T | None:
    """Run `work`. The first signal calls `graceful` (default: cancel the work), the second
    `now` (default: cancel it). None when a signal cancelled the work before it returned.

    Every command stops through here, and so does each load worker (with `signals` of its own,
    fed by its parent's control pipe)."""
    import asyncio

    task = asyncio.ensure_future(work)

    def cancel() -> None:
        task.cancel()

    def cancel_again() -> None:
        task.cancel()
        # Both signals may be handed over in one turn of the loop: two cancels of a task that
        # has not yet seen the first are one, and the work's graceful stop (a server's grace
        # period) would run to its end. Once more, after the work has seen the first.
        asyncio.get_running_loop().call_soon(task.cancel)

    with signals.listening(graceful or cancel, now or cancel_again):
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if signals.first is None or (current is not None and current.cancelling()):
                raise  # a cancellation of our own, not one a signal asked for
            return None
