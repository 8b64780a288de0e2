"""The public Python API: `send`, `run`, `check` and `load` as coroutines, and `*_sync`
wrappers for code without an event loop.

They take the command line's options as keyword arguments, by the same names (`--max-attempts`
is `max_attempts=`), and return the typed results the command line renders; bad input raises
`ConfigError` with the command line's one-line message. The command line runs the same jobs
(`dispatcher.jobs`): there is one code path. Nothing here prints, installs signal handlers or
sends anywhere but the URL given. Documented in docs/api.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from .errors import ConfigError, WebhookSimError
from .jobs import params
from .jobs.calls import blocking, flags_for
from .jobs.check import CheckRun
from .jobs.load import LoadResult
from .jobs.run import RunResult
from .jobs.send import SendResult
from .redact import REDACTOR
from .signals import StopSignals

if TYPE_CHECKING:
    from typing_extensions import Unpack

T = TypeVar("T")

__all__ = [
    "CheckOptions",
    "CheckRun",
    "ConfigError",
    "LoadOptions",
    "LoadResult",
    "RunOptions",
    "RunResult",
    "SendOptions",
    "SendResult",
    "WebhookSimError",
    "check",
    "check_sync",
    "load",
    "load_sync",
    "run",
    "run_sync",
    "send",
    "send_sync",
]


class _Target(TypedDict, total=False):
    config: Path | None
    auth: str | None
    basic: str | None
    api_key: str | None
    token_url: str | None
    client_id: str | None
    client_secret: str | None
    scope: str | None
    client_auth: str | None
    flow: str | None
    header: list[str] | None
    secret_header: list[str] | None
    ca_bundle: Path | None
    insecure: bool
    source_address: list[str] | None
    seed: int | None


class _Retry(TypedDict, total=False):
    max_attempts: int | None
    interval: float | None
    max_interval: float | None
    timeout: float | None


class _Traffic(TypedDict, total=False):
    payload_profile: str | None
    statuses: str | None
    duplicates: float | None
    reorder: float | None
    unknown_status: float | None


class _Overrides(TypedDict, total=False):
    set: list[str] | None
    unset: list[str] | None
    bodies: Path | None


class SendOptions(_Target, _Retry, _Overrides, total=False):
    payload_profile: str | None
    status: int
    state: str
    result: str
    process_flow: str | None
    process_id: str | None


class RunOptions(_Target, _Retry, _Traffic, _Overrides, total=False):
    process_ids: Path | None
    scenario: Path | None
    count: int | None
    concurrency: int | None
    max_rate: float | None
    adaptive: bool | None
    throttle_window: float | None
    throttle_threshold: float | None
    throttle_decrease: float | None
    grace: float
    workers: int | None
    http_client: str


class CheckOptions(_Target, total=False):
    timeout: float | None
    only: list[str] | None
    verify_url: str | None
    verify_field: str
    batch: int
    burst: int
    burst_max_failure: float
    platform: str | None
    fallback_within: float
    fallback_create_url: str | None
    fallback_count: int
    fallback_window: float
    denied_source: str | None


class LoadOptions(_Target, _Retry, _Traffic, _Overrides, total=False):
    process_ids: Path | None
    duration: str
    ramp: str | None
    workers: int | None
    concurrency: int | None
    adaptive: bool | None
    expect: list[str] | None
    grace: float
    graceful_stop: str
    http_client: str


# What differs from the command line's defaults: a call from Python sends from one process
# unless it asks for more (more would re-import the caller's script in each of them).
API_DEFAULTS: dict[str, dict[str, Any]] = {
    "LoadOptions": {"workers": 1},
    "RunOptions": {"workers": 1},
}


@contextlib.contextmanager
def _one_line() -> Iterator[None]:
    """The command line's error edge, for Python callers: every secret masked."""
    try:
        yield
    except ConfigError as exc:
        raise ConfigError(REDACTOR.scrub(str(exc))) from None


def _options(typed: type, given: Mapping[str, Any]) -> dict[str, Any]:
    return {**API_DEFAULTS.get(typed.__name__, {}), **given}


def _allowed(typed: Any) -> frozenset[str]:
    return frozenset(typed.__optional_keys__)


async def send(url: str | None = None, **options: Unpack[SendOptions]) -> SendResult:
    """Send one notification with the platform's retries."""
    from .jobs import send as job

    with _one_line():
        flags = flags_for(params.SEND, url, options, _allowed(SendOptions))
        built = job.SendJob.from_flags(flags)
    return await job.send(built)


async def run(url: str | None = None, **options: Unpack[RunOptions]) -> RunResult:
    """Notify `count` processes at the platform's settings (a scenario file's, if given)."""
    from .jobs import run as job

    with _one_line():
        given = _options(RunOptions, options)
        built = job.RunJob.from_flags(flags_for(params.RUN, url, given, _allowed(RunOptions)))
    if built.split.workers == 1:
        return await job.run(built)
    stops = StopSignals()  # this call's own: the process's signals are not ours to take
    outcome = await _in_workers(lambda: job.run_workers_of(built, stops), stops)
    return await job.judged(built, outcome.metrics, outcome.failed)


async def _in_workers(work: Callable[[], T], stops: StopSignals) -> T:
    """`work` (which blocks while worker processes run) in a thread; cancelling this stops
    every worker, and returns once they are all stopped and joined."""
    running = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        for _ in range(2):  # a stop, then "now": in-flight requests get no grace
            stops.handle(signal.SIGINT, None)
        await running
        raise


async def check(url: str | None = None, **options: Unpack[CheckOptions]) -> CheckRun:
    """Run the conformance suite (or the checks named in `only`) against a receiver. Its
    `passed` needs evidence: at least one check passed, and none named in `only` skipped."""
    import time

    from .checks.result import CheckResult
    from .jobs import check as job

    with _one_line():
        flags = flags_for(params.CHECK, url, options, _allowed(CheckOptions))
        built = job.CheckJob.from_flags(flags)
    started, results = time.perf_counter(), list[CheckResult]()
    await job.check(built, into=results)
    return job.finish(built, results, started)


async def load(
    url: str | None = None, *, rate: float | str | None = None, **options: Unpack[LoadOptions]
) -> LoadResult:
    """A load test: `rate` arrivals per second (or "max") for `duration`, or a `ramp`; on
    one process unless `workers` says more. Cancelling it stops every worker."""
    from .jobs import load as job

    with _one_line():
        given = _options(LoadOptions, options)
        flags = flags_for(params.LOAD, url, given, _allowed(LoadOptions))
        flags["rate"] = None if rate is None else str(rate)
        built = job.LoadJob.from_flags(flags)
    if built.plan.workers == 1:
        return await job.load_one(built, built.engine())
    stops = StopSignals()  # this call's own: the process's signals are not ours to take
    return await _in_workers(lambda: job.load_workers(built, stops), stops)


def send_sync(url: str | None = None, **options: Unpack[SendOptions]) -> SendResult:
    """`send` for code without an event loop."""
    return blocking(send(url, **options))


def run_sync(url: str | None = None, **options: Unpack[RunOptions]) -> RunResult:
    """`run` for code without an event loop."""
    return blocking(run(url, **options))


def check_sync(url: str | None = None, **options: Unpack[CheckOptions]) -> CheckRun:
    """`check` for code without an event loop."""
    return blocking(check(url, **options))


def load_sync(
    url: str | None = None, *, rate: float | str | None = None, **options: Unpack[LoadOptions]
) -> LoadResult:
    """`load` for code without an event loop."""
    return blocking(load(url, rate=rate, **options))
