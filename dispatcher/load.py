"""`webhook-sim load`: open-model arrivals (or a closed model at the cap) over a duration,
across one or more worker processes whose metrics merge into one report.

Every worker runs the ordinary engine on its share: it takes every Nth arrival of the one
global schedule and plan, and 1/N of the in-flight cap, so N workers send exactly what one
would, with N cores behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from .arrivals import RateProfile
from .attemptlog import AttemptLog
from .engine import Engine, EngineOptions, Observer, Start
from .lanes import Lane
from .livefigures import PROGRESS_EVERY_S, Told, live_figures
from .metrics import Metrics, merge, to_wire
from .overrides import NO_PAYLOAD, PayloadControl
from .payloads import Notification
from .report import load_report as load_report  # the builder lives with the other reports
from .settings import Settings, TrafficSettings
from .shards import WHOLE, LateStart, Shard, share, striped
from .signals import SIGNALS, StopSignals, until_signalled
from .traffic import TrafficPlan

T = TypeVar("T")
CLOSED_MODEL_PROCESSES = 10**12  # "--rate max": as many as the duration allows


@dataclass(frozen=True)
class LoadPlan:
    """How a run is split and timed. `load`: a rate profile (None: a closed model at the cap)
    over a duration. `run`: `count` processes, no duration, as fast as the cap allows."""

    profile: RateProfile | None  # None: closed model, as fast as the cap allows
    duration_s: float | None  # None: until every process is done (run)
    traffic: TrafficSettings
    workers: int = 1
    graceful_stop_s: float | None = 10.0  # after the duration, for what is in flight or retrying
    count: int | None = None  # processes (run); None: as many as the duration takes (load)
    shard: Shard = WHOLE
    start_at: float | None = None  # unix seconds every shard starts its clock at
    start_tolerance_s: float = 1.0  # how late a shard may be ready and still start
    payload: PayloadControl = NO_PAYLOAD  # --set, --unset, --process-ids, --bodies
    attempt_log: Path | None = None  # --log: every sender appends its attempts

    @property
    def target_per_s(self) -> float | None:
        return self.profile.total / self.profile.duration_s if self.profile else None

    @property
    def processes(self) -> int:
        """Processes in the whole plan (every shard's): slot i is process i and arrival i."""
        if self.count is not None:
            return self.count
        return CLOSED_MODEL_PROCESSES if self.profile is None else self.profile.arrivals

    @property
    def run_for_s(self) -> float | None:
        return self.duration_s if self.profile is None else self.profile.duration_s

    def lane(self, worker: int) -> tuple[int, int]:
        """Worker `worker`'s (first process, step): this shard's processes, striped again."""
        return self.shard.lane(worker, self.workers)


def worker_settings(settings: Settings, plan: LoadPlan, index: int) -> Settings:
    """Worker `index`'s settings: its part of the shard's part of the cap and --max-rate."""
    parts = plan.shard.count * plan.workers
    first, _ = plan.lane(index)
    update: dict[str, Any] = {"concurrency": max(1, share(settings.concurrency, parts, first))}
    if settings.max_rate is not None:
        update["max_rate"] = settings.max_rate / parts
    if sources := settings.source_addresses:  # each sender starts its turn at its own address
        k = first % len(sources)
        update["source_addresses"] = sources[k:] + sources[:k]
    return settings.model_copy(update=update)


def worker_options(options: EngineOptions, plan: LoadPlan, index: int) -> EngineOptions:
    """Worker `index`'s engine options: its place among the senders sharing --max-rate."""
    first, step = plan.lane(index)
    return replace(options, pace_phase=first / step)


def logged(plan: LoadPlan, settings: Settings) -> Observer | None:
    """The attempt log's writer for one sender, if the plan has one."""
    return AttemptLog.of(plan.attempt_log, settings) if plan.attempt_log is not None else None


def worker_streams(
    settings: Settings, plan: LoadPlan, index: int
) -> tuple[Iterator[Notification], Iterator[float] | None]:
    """Worker `index`'s notifications and, in the open model, when each is due: it generates
    only its own processes."""
    traffic = TrafficPlan.of(settings, plan.traffic, plan.processes, plan.payload)
    first, step = plan.lane(index)
    lane = Lane(traffic, first, step, plan.profile)
    return lane.notes(), lane.offsets() if plan.profile is not None else None


async def run_share(engine: Engine, settings: Settings, plan: LoadPlan, index: int) -> Metrics:
    notes, schedule = worker_streams(settings, plan, index)
    start = None
    if plan.start_at is not None:
        start = Start(plan.start_at, plan.start_tolerance_s)
    return await engine.run(
        notes,
        schedule=schedule,
        duration_s=plan.run_for_s,
        graceful_stop_s=plan.graceful_stop_s if plan.run_for_s is not None else None,
        start=start,
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
    progress: bool = False,
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
    engine = Engine(mine, options=worker_options(options, plan, index), observer=logged(plan, mine))

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

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            results.send({"progress": live_figures(engine.metrics)})

    async def main() -> Metrics:
        threading.Thread(target=listen, name="control", daemon=True).start()
        reporter = asyncio.create_task(report_progress()) if progress else None
        try:
            await until_signalled(
                run_share(engine, mine, plan, index),
                graceful=engine.stop,
                now=lambda: engine.stop(now=True),
                signals=own,
            )
        finally:
            if reporter is not None:
                reporter.cancel()
        return engine.metrics

    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            results.send({"wire": to_wire(runner.run(main()))})
    except LateStart as exc:
        results.send({"late": str(exc)})
    except Exception as exc:  # a worker's failure must reach the parent, not vanish
        results.send({"error": f"worker {index}: {type(exc).__name__}: {exc}"})
    finally:
        results.close()


@dataclass(frozen=True)
class WorkersOutcome:
    metrics: Metrics
    failed: tuple[str, ...]  # one line per worker that died or failed, naming it


def run_workers(
    settings: Settings,
    plan: LoadPlan,
    options: EngineOptions,
    signals: StopSignals = SIGNALS,
    on_progress: Callable[[Metrics], None] | None = None,
) -> WorkersOutcome:
    """Run `plan.workers` processes to completion, passing on stops from `signals` (the
    process's own, by default; a caller's own stops are the caller's to announce).
    `on_progress` is shown the workers' live figures, added up, as they come.

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
                args=(
                    index,
                    settings,
                    plan,
                    options,
                    result_w,
                    control_r,
                    os.getpid(),
                    on_progress is not None,
                ),
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
    wires: dict[int, dict[str, Any]] = {}  # by worker: merged in index order, not arrival's
    failed: list[str] = []
    late: list[str] = []
    told = Told(plan.workers, on_progress)
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
                try:
                    answer = conn.recv()
                except EOFError:
                    del results[index]
                    procs[index].join(5)
                    failed.append(f"worker {index} died ({_death(procs[index].exitcode)})"
                                  f"{_uncounted(plan, index)}")  # fmt: skip
                    told.ended(index, None)
                    continue
                if "progress" in answer:
                    told.progress(index, answer["progress"])
                    continue
                del results[index]
                if "late" in answer:
                    late.append(answer["late"])
                elif "error" in answer:
                    failed.append(answer["error"])
                else:
                    wires[index] = answer["wire"]
                told.ended(index, wires.get(index))
    finally:
        for control in controls:
            control.close()
        for worker in procs:
            worker.join(5)
            if worker.is_alive():  # pragma: no cover - a worker that ignores its stop
                worker.kill()
                worker.join()
    if late and not wires:  # every worker was late: nothing was sent
        raise LateStart(late[0])
    failed += [f"worker late: {line}" for line in late]
    merged = merge([wires[i] for i in sorted(wires)]) if wires else Metrics(cap=0)
    return WorkersOutcome(merged, tuple(failed))


def _uncounted(plan: LoadPlan, index: int) -> str:
    """What a dead worker takes with it: its processes are in none of the report's counts."""
    if plan.profile is None and plan.count is None:
        return ""  # a closed model for a duration: no planned number to name
    first, step = plan.lane(index)
    return f": its {striped(plan.processes, first, step)} processes are in no count of the report"


def _death(exitcode: int | None) -> str:
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"
