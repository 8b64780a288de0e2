from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dispatcher.auth import Auth
from dispatcher.engine import Engine, EngineOptions
from dispatcher.metrics import Metrics
from dispatcher.payloads import Notification, PayloadFactory, notification
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
    engine = Engine(
        s, options=options or EngineOptions(adaptive=False, seed=1), observer=trace, auth=auth
    )
    metrics = await engine.run(plan)
    assert metrics.delivered + metrics.exhausted + metrics.cancelled == metrics.scheduled
    assert metrics.max_attempts_per_notification <= s.max_attempts
    return metrics, trace


def outcomes(trace: Trace) -> list[list[str]]:
    return [[a.outcome for a in trace.attempts[id(n)]] for n in trace.order]
