"""`webhook-sim load`: open-model arrivals (or a closed model at the cap) over a duration,
across one or more worker processes whose metrics merge into one report.

Every worker runs the ordinary engine on its share: it takes every Nth arrival of the one
global schedule and plan, and 1/N of the in-flight cap, so N workers send exactly what one
would, with N cores behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from .arrivals import RateProfile
from .engine import Engine, EngineOptions
from .metrics import Metrics, merge, to_wire
from .payloads import Notification
from .report import load_report as load_report  # the builder lives with the other reports
from .settings import Settings, TrafficSettings
from .signals import SIGNALS, StopSignals, until_signalled
from .traffic import TrafficPlan

T = TypeVar("T")
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


def run_fast(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on a new loop of `new_loop`'s kind."""
    with asyncio.Runner(loop_factory=new_loop) as runner:
        return runner.run(coro)


def _die_with_parent(parent_pid: int) -> None:
    """Linux: the kernel kills this worker when its parent dies, even by SIGKILL (as the OOM
    killer or a CI time-out does), so no orphan keeps sending. Elsewhere the control pipe's
    end-of-file does it, a moment later."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if os.getppid() != parent_pid:  # the parent died before the request took hold
        os._exit(1)


def _worker_main(
    index: int,
    settings: Settings,
    plan: LoadPlan,
    options: EngineOptions,
    results: Connection,
    control: Connection,
    parent_pid: int,
) -> None:
    # Born with SIGINT and SIGTERM blocked (see run_workers): a stop sent before this point
    # waits in the control pipe instead of killing the worker mid-import. The terminal's Ctrl-C
    # is the parent's to handle; a SIGTERM sent to this worker alone is a stop like the others.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    own = StopSignals()
    signal.signal(signal.SIGTERM, own.handle)
    _die_with_parent(parent_pid)
    os.setpgid(0, 0)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    mine = worker_settings(settings, plan, index)
    engine = Engine(mine, options=options)

    def listen() -> None:
        # The parent's stops arrive as words on the pipe, and become this worker's own stop
        # signals: the worker stops through the same path as every command.
        # A SIGTERM sent to this worker alone already counts: the parent's first "stop" after
        # it is the same graceful stop, not a second one.
        words = 0
        while words < 2:
            try:
                word = control.recv()
            except (EOFError, OSError):
                word = "now"  # the parent is gone: nobody will read a report
            words = 2 if word == "now" else words + 1
            while len(own.received) < words:
                own.handle(signal.SIGINT, None)

    async def main() -> Metrics:
        threading.Thread(target=listen, name="control", daemon=True).start()
        await until_signalled(
            run_share(engine, mine, plan, index),
            graceful=engine.stop,
            now=lambda: engine.stop(now=True),
            signals=own,
        )
        return engine.metrics

    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            results.send({"wire": to_wire(runner.run(main()))})
    except Exception as exc:  # a worker's failure must reach the parent, not vanish
        results.send({"error": f"worker {index}: {type(exc).__name__}: {exc}"})
    finally:
        results.close()


@dataclass(frozen=True)
class WorkersOutcome:
    metrics: Metrics
    failed: tuple[str, ...]  # one line per worker that died or failed, naming it


def run_workers(
    settings: Settings, plan: LoadPlan, options: EngineOptions, signals: StopSignals = SIGNALS
) -> WorkersOutcome:
    """Run `plan.workers` processes to completion, passing on stops from `signals` (the
    process's own, by default; a caller's own stops are the caller's to announce).

    Workers never get a signal from the parent: stops go through a pipe, which holds a stop
    sent before a worker is ready to act on it. A worker that dies is named, and the others'
    results are still merged.
    """
    context = multiprocessing.get_context("spawn")
    procs: list[multiprocessing.process.BaseProcess] = []
    results: dict[int, Connection] = {}
    controls: list[Connection] = []
    blocked = {signal.SIGINT, signal.SIGTERM}
    # The mask is inherited across fork and exec: each worker starts with both signals blocked.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        for index in range(plan.workers):
            result_r, result_w = context.Pipe(duplex=False)
            control_r, control_w = context.Pipe(duplex=False)
            proc = context.Process(
                target=_worker_main,
                args=(index, settings, plan, options, result_w, control_r, os.getpid()),
                name=f"webhook-sim-worker-{index}",
            )
            proc.start()
            result_w.close()
            control_r.close()
            procs.append(proc)
            results[index] = result_r
            controls.append(control_w)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    wires: list[dict[str, Any]] = []
    failed: list[str] = []
    forwarded = 0
    try:
        while results:
            while forwarded < min(len(signals.received), 2):
                forwarded += 1
                if forwarded == 1 and signals.first is not None and signals is SIGNALS:
                    print(
                        f"{signals.first.name}: stopping the workers; in-flight requests get "
                        f"{options.grace_s:g} s (again to stop now)",
                        file=sys.stderr,
                        flush=True,
                    )
                for control in controls:
                    with contextlib.suppress(OSError):  # that worker has already gone
                        control.send("stop" if forwarded == 1 else "now")
            ready = multiprocessing.connection.wait(list(results.values()), timeout=0.05)
            for index, conn in list(results.items()):
                if conn not in ready:
                    continue
                del results[index]
                try:
                    answer = conn.recv()
                except EOFError:
                    procs[index].join(5)
                    failed.append(f"worker {index} died ({_death(procs[index].exitcode)})")
                    continue
                if "error" in answer:
                    failed.append(answer["error"])
                else:
                    wires.append(answer["wire"])
    finally:
        for control in controls:
            control.close()
        for worker in procs:
            worker.join(5)
            if worker.is_alive():  # pragma: no cover - a worker that ignores its stop
                worker.kill()
                worker.join()
    return WorkersOutcome(merge(wires) if wires else Metrics(cap=0), tuple(failed))


def _death(exitcode: int | None) -> str:
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"
