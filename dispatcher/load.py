"""`webhook-sim load`: open-model arrivals (or a closed model at the cap) over a duration,
across one or more worker processes whose metrics merge into one report.

Every worker runs the ordinary engine on its share: it takes every Nth arrival of the one
global schedule and plan, and 1/N of the in-flight cap, so N workers send exactly what one
would, with N cores behind it.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from .arrivals import RateProfile
from .engine import Engine, EngineOptions
from .metrics import Metrics, merge, summarize_ms, to_wire
from .payloads import Notification
from .report import run_report
from .saturation import WARMUP_S, judge_sender
from .settings import Settings, TrafficSettings
from .traffic import TrafficPlan

CLOSED_MODEL_PROCESSES = 10**12  # "--rate max": as many as the duration allows


@dataclass(frozen=True)
class LoadPlan:
    profile: RateProfile | None  # None: closed model, as fast as the cap allows
    duration_s: float
    traffic: TrafficSettings
    workers: int = 1
    graceful_stop_s: float = 10.0  # after the duration, for what is in flight or retrying

    @property
    def target_per_s(self) -> float | None:
        return self.profile.total / self.profile.duration_s if self.profile else None


def share(total: int, parts: int, index: int) -> int:
    """Part `index` of `total` split as evenly as whole numbers allow."""
    return total // parts + (1 if index < total % parts else 0)


def worker_settings(settings: Settings, plan: LoadPlan, index: int) -> Settings:
    update: dict[str, Any] = {
        "concurrency": max(1, share(settings.concurrency, plan.workers, index))
    }
    if settings.max_rate is not None:
        update["max_rate"] = settings.max_rate / plan.workers
    return settings.model_copy(update=update)


def worker_streams(
    settings: Settings, plan: LoadPlan, index: int
) -> tuple[Iterator[Notification], Iterator[float] | None]:
    """Worker `index`'s notifications and, in the open model, when each is due."""
    count = CLOSED_MODEL_PROCESSES if plan.profile is None else int(plan.profile.total) + 1
    notes = TrafficPlan.of(settings, plan.traffic, count)
    mine = itertools.islice(iter(notes), index, None, plan.workers)
    if plan.profile is None:
        return mine, None
    return mine, itertools.islice(plan.profile.offsets(), index, None, plan.workers)


async def run_share(engine: Engine, settings: Settings, plan: LoadPlan, index: int) -> Metrics:
    notes, schedule = worker_streams(settings, plan, index)
    return await engine.run(
        notes,
        schedule=schedule,
        duration_s=plan.duration_s if plan.profile is None else plan.profile.duration_s,
        graceful_stop_s=plan.graceful_stop_s,
    )


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed: it roughly halves the event loop's cost per request."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; this keeps PyPy possible
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _worker_main(
    index: int, settings: Settings, plan: LoadPlan, options: EngineOptions, conn: Connection
) -> None:
    # Out of the terminal's process group: a Ctrl-C reaches the parent only, which forwards
    # one stop to each worker (two would mean "stop now, no grace").
    os.setpgid(0, 0)
    mine = worker_settings(settings, plan, index)
    engine = Engine(mine, options=options)

    async def main() -> Metrics:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: engine.stop(now=engine.stopping))
        return await run_share(engine, mine, plan, index)

    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            conn.send({"wire": to_wire(runner.run(main()))})
    except Exception as exc:  # a worker's failure must reach the parent, not vanish
        conn.send({"error": f"worker {index}: {type(exc).__name__}: {exc}"})
    finally:
        conn.close()


def run_workers(
    settings: Settings, plan: LoadPlan, options: EngineOptions
) -> tuple[Metrics, signal.Signals | None]:
    """Run `plan.workers` processes to completion; forward SIGINT/SIGTERM to them."""
    context = multiprocessing.get_context("spawn")
    procs: list[multiprocessing.process.BaseProcess] = []
    conns: list[Connection] = []
    received: list[signal.Signals] = []

    def forward(signum: int, frame: object) -> None:
        received.append(signal.Signals(signum))
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for index in range(plan.workers):
            parent, child = context.Pipe(duplex=False)
            proc = context.Process(
                target=_worker_main,
                args=(index, settings, plan, options, child),
                name=f"webhook-sim-worker-{index}",
            )
            proc.start()
            child.close()
            procs.append(proc)
            conns.append(parent)
        results = [conn.recv() for conn in conns]
        for done in procs:
            done.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError("; ".join(errors))
    return merge([r["wire"] for r in results]), (received[0] if received else None)


def load_report(
    metrics: Metrics,
    settings: Settings,
    plan: LoadPlan,
    *,
    interrupted: signal.Signals | None,
) -> dict[str, Any]:
    """The `run` report plus what a load test needs: rates, both latencies, the sender."""
    m = metrics
    report = run_report(
        m,
        settings,
        traffic={**plan.traffic.model_dump(), "flow": settings.flow},
        interrupted=interrupted.name if interrupted else None,
    )
    lag = summarize_ms(m.loop_lag)
    verdict = judge_sender(
        seconds=[(s.arrivals, s.late) for s in m.seconds if s.t >= WARMUP_S],
        lag_p99_ms=lag["p99"],
        cap=m.cap,
        min_limit=m.min_limit,
        queued=m.queued,
    )
    elapsed = plan.duration_s if plan.profile is None else plan.profile.duration_s
    # Rates divide by the time measured, not the time asked for: a run stopped early, or one
    # whose retries went on after the duration, says what really happened.
    window = m.arrival_window_s
    report["latency_ms"] = {
        "service": summarize_ms(m.latency),
        "response": summarize_ms(m.response),
    }
    report["rate"] = {
        "model": "closed" if plan.profile is None else "open",
        "target_per_s": plan.target_per_s,
        "attempted_per_s": m.arrivals / window if window > 0 else None,
        "achieved_per_s": m.delivered / m.duration_s if m.duration_s else None,
        "queued": m.queued,
        "dropped": m.dropped,
        "late_starts": m.late_starts,
        "arrival_window_s": round(window, 3),
        "graceful_stop_s": plan.graceful_stop_s,
        "profile": [list(p) for p in plan.profile.points] if plan.profile else None,
        "duration_s": elapsed,
    }
    report["sender"] = {
        "loop_lag_ms": {k: lag[k] for k in ("p50", "p99", "max")},
        "saturated": verdict.saturated,
        "late_start_share": verdict.late_share,
        "late_seconds": verdict.late_seconds,
        "late_threshold_ms": round(m.late_threshold_s * 1000, 3),
        "throttled": verdict.throttled,
        "message": verdict.message,
    }
    report["workers"] = plan.workers
    report["timeline"] = [s.as_json() for s in m.seconds]
    return report
