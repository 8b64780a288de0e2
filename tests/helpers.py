from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from aiohttp import web

from dispatcher.auth import Auth
from dispatcher.delivery import AttemptResult
from dispatcher.engine import Engine, EngineOptions, Outcome
from dispatcher.metrics import Metrics
from dispatcher.payloads import Notification, PayloadFactory, names, notification
from dispatcher.report import Trace
from dispatcher.settings import Settings


def settings(url: str, **overrides: Any) -> Settings:
    data: dict[str, Any] = {"url": url, "max_attempts": 3, "interval_s": 0.01, "timeout_s": 5}
    data.update(overrides)
    return Settings.model_validate(data)


async def deliver(
    s: Settings,
    plan: Iterable[Notification] | None = None,
    *,
    auth: Auth | None = None,
    options: EngineOptions | None = None,
) -> tuple[Metrics, Trace]:
    trace = Trace()
    if plan is None:
        plan = [notification(PayloadFactory(1).single(s.flow))]
    engine = Engine(s, options=options or EngineOptions(seed=1), observer=trace, auth=auth)
    metrics = await engine.run(plan)
    assert metrics.delivered + metrics.exhausted + metrics.cancelled == metrics.scheduled
    assert metrics.max_attempts_per_notification <= s.max_attempts
    return metrics, trace


def outcomes(trace: Trace) -> list[list[str]]:
    return [[a.outcome for a in trace.attempts[id(n)]] for n in trace.order]


class Until:
    """An observer that sets events when conditions on a run's metrics come true, so that a
    test can act mid-run without polling."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._waits: list[tuple[Callable[[Metrics], bool], asyncio.Event]] = []

    def when(self, predicate: Callable[[Metrics], bool]) -> asyncio.Event:
        event = asyncio.Event()
        self._waits.append((predicate, event))
        return event

    def _check(self) -> None:
        assert self.engine is not None
        for predicate, event in self._waits:
            if not event.is_set() and predicate(self.engine.metrics):
                event.set()

    def on_attempt(
        self, note: Notification, result: AttemptResult, retry_in_s: float | None
    ) -> None:
        self._check()

    def on_final(self, note: Notification, outcome: Outcome, attempts: int) -> None:
        self._check()


def watched_engine(s: Settings, **options: Any) -> tuple[Engine, Until]:
    until = Until()
    engine = Engine(s, options=EngineOptions(**options), observer=until)
    until.engine = engine
    return engine, until


async def reached(event: asyncio.Event, timeout_s: float = 60) -> None:
    async with asyncio.timeout(timeout_s):
        await event.wait()


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """An aiohttp app on a free loopback port for the block's duration; yields its base URL."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


class Recorder:
    """A receiver written in the tests, not the sandbox: keeps each body it got and when (wall
    clock), and answers 200, or 500 to the process ids `failing` says."""

    def __init__(self) -> None:
        self.got: list[tuple[float, bytes]] = []
        self.failing: Callable[[str], bool] = lambda _: False

    @property
    def bodies(self) -> list[bytes]:
        return [body for _, body in self.got]

    def take(self) -> list[tuple[float, bytes]]:
        """What it got so far, forgotten here."""
        got, self.got = self.got, []
        return got

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.got.append((time.time(), body))
        try:
            process_id, _ = names(json.loads(body))
        except ValueError:
            process_id = ""
        if self.failing(process_id):
            return web.json_response({"error": "not today"}, status=500)
        return web.Response(text="ok")


@contextlib.asynccontextmanager
async def recording() -> AsyncIterator[tuple[Recorder, str]]:
    """A `Recorder` on a free loopback port for the block's duration, and its URL (/hook)."""
    rec = Recorder()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    async with serving(app) as base:
        yield rec, base + "/hook"
