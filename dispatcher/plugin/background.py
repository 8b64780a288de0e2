"""An event loop in a thread of its own, for the servers the plugin's fixtures start.

The servers must keep answering whatever the test does with its own thread: a sync test blocks
it, and an async test's loop (pytest-asyncio's, in auto or strict mode) is busy sending. On a
loop of their own they never wait for the test's, so one fixture serves both kinds of test.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# A safety net against a hung server, never a measurement: no test waits anywhere near this.
CALL_TIMEOUT_S = 120.0


class BackgroundLoop:
    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._closed = False
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop and wait for its result, from any other thread."""
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self._thread.name} is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(CALL_TIMEOUT_S)

    def run(self, function: Callable[[], T]) -> T:
        """Call a plain function on the loop's thread (what the servers' state is owned by)."""

        async def call() -> T:
            return function()

        return self.call(call())

    def close(self) -> None:
        """Finish what is still scheduled, stop the loop, join its thread, close the loop: no
        thread, socket or task outlives the fixture. Closing twice does nothing."""
        if self._closed:
            return
        try:
            self.call(self._drain())
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CALL_TIMEOUT_S)
            self._loop.close()

    @staticmethod
    async def _drain() -> None:
        loop = asyncio.get_running_loop()
        tasks = [t for t in asyncio.all_tasks(loop) if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await loop.shutdown_asyncgens()
        await loop.shutdown_default_executor()
