"""Running a command's work: on one engine or on worker processes, on a loop of its own, with
its progress shown (`dispatcher.progress`) and its figures served (`dispatcher.exporter`)."""

from __future__ import annotations

import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from .exporter import Exporter
from .progress import Ticker, planned, watched
from .signals import until_signalled

if TYPE_CHECKING:
    from rich.console import Console

    from .engine import Engine
    from .jobs.check import CheckJob, CheckRun
    from .jobs.load import LoadJob, LoadResult
    from .jobs.run import RunJob, RunResult

T = TypeVar("T")
UNSERVED = Exporter(None)  # no --metrics-port


def run_watched(
    engine: Engine, work: Coroutine[Any, Any, T], console: Console | None = None,
    every_s: float | None = None, total: int | None = None, live: Exporter = UNSERVED,
) -> T:  # fmt: skip
    """`watched`, on a loop of its own: a command's work."""
    from .load import run_fast

    return run_fast(watched(engine, live.publishing(engine, work), console, every_s, total))


def run_job(job: RunJob, console: Console | None, live: Exporter = UNSERVED) -> RunResult:
    """`run`, on one engine or on worker processes, with its progress on `console`."""
    from .jobs.run import judged, run, run_workers_of
    from .load import run_fast

    every_s, total = job.options.progress_every_s, planned(job.settings, job.split)
    if job.split.workers > 1:
        with Ticker(console, every_s, total) as ticker:
            ran = run_workers_of(job, on_progress=live.progress(ticker))
            ticker.finish(ran.metrics)
        live.finish()  # the workers' final figures are the last ones they told
        return run_fast(judged(job, ran.metrics, ran.failed))
    engine = job.engine()
    return run_watched(engine, run(job, engine), console, every_s, total, live)


def check_job(job: CheckJob) -> CheckRun:
    """`check`: the suite; a stop ends it, and what ran is judged."""
    from .checks.result import CheckResult
    from .jobs.check import check, finish
    from .load import run_fast

    started, results = time.perf_counter(), list[CheckResult]()
    run_fast(until_signalled(check(job, into=results)))
    return finish(job, results, started)


def load_job(job: LoadJob, console: Console | None, live: Exporter = UNSERVED) -> LoadResult:
    """`load`, on one engine (with its progress on `console`) or on worker processes."""
    from .jobs.load import load_one, load_workers

    if job.plan.workers > 1:
        result = load_workers(job, on_progress=live.progress())
        live.finish()  # the workers' final figures are the last ones they told
        return result
    engine = job.engine()
    return run_watched(engine, load_one(job, engine), console, live=live)
