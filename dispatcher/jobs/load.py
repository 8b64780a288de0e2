"""`load`: arrivals at a rate over a duration, on one or more worker processes, judged by
thresholds."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..arrivals import RateProfile, parse_duration
from ..checks.result import CheckResult
from ..engine import Engine, EngineOptions
from ..errors import ConfigError
from ..load import LoadPlan, run_share, run_workers
from ..metrics import Metrics
from ..report import LoadReport, load_report
from ..scenario import Expectation, observe
from ..settings import RunOptions, Settings, TrafficSettings, build_settings, validate_flags
from ..signals import SIGNALS, StopSignals
from .flags import Flags, settings_flags


def _threshold(text: str) -> Expectation:
    try:
        return Expectation.parse(text)
    except ValueError as exc:
        raise ConfigError(f"--expect = {text!r}: {exc}") from None


def _profile(flags: Flags) -> tuple[RateProfile | None, float]:
    """The arrival profile (None: a closed model at the cap) and the duration."""
    rate: str | None = flags.get("rate")
    if flags.get("ramp") is not None:
        if rate is not None:
            raise ConfigError("--ramp and --rate do not go together: a ramp sets its own rates")
        profile = RateProfile.parse_ramp(flags["ramp"])
        return profile, profile.duration_s
    duration = flags.get("duration", "10s")
    seconds = parse_duration(duration)
    if seconds <= 0:
        raise ConfigError(f"--duration = {duration!r}: must be more than 0")
    if rate is None:
        raise ConfigError("--rate is required: arrivals per second, or max (or give --ramp)")
    if rate == "max":
        return None, seconds
    try:
        per_second = float(rate)
    except ValueError:
        raise ConfigError(f"--rate = {rate!r}: a number of arrivals per second, or max") from None
    if not 0 < per_second <= 1_000_000:
        raise ConfigError(f"--rate = {rate!r}: must be more than 0, at most 1000000")
    return RateProfile.constant(per_second, seconds), seconds


def _workers(flags: Flags, settings: Settings) -> int:
    # By default one worker per core, but never more workers than slots to share among them.
    given: int | None = flags.get("workers")
    count = given if given is not None else min(os.cpu_count() or 1, settings.concurrency)
    if not 1 <= count <= 64:
        raise ConfigError(f"--workers = {count}: must be between 1 and 64")
    if count > settings.concurrency:
        raise ConfigError(
            f"--workers = {count}: more workers than --concurrency {settings.concurrency}"
        )
    return count


@dataclass(frozen=True)
class LoadJob:
    settings: Settings
    plan: LoadPlan
    thresholds: tuple[Expectation, ...]
    options: EngineOptions

    @classmethod
    def from_flags(cls, flags: Flags) -> LoadJob:
        settings = build_settings(config=flags.get("config"), flags=settings_flags(flags))
        traffic = validate_flags(
            TrafficSettings,
            {"duplicates": flags.get("duplicates"), "reorder": flags.get("reorder"),
             "unknown": flags.get("unknown_status"), "seed": flags.get("seed")},
        )  # fmt: skip
        thresholds = tuple(_threshold(text) for text in flags.get("expect") or ())
        profile, seconds = _profile(flags)
        workers = _workers(flags, settings)
        grace = validate_flags(RunOptions, {"grace_s": flags.get("grace")}).grace_s
        graceful_stop = parse_duration(flags.get("graceful_stop", "10s"), flag="--graceful-stop")
        plan = LoadPlan(profile, seconds, traffic, workers, graceful_stop)
        client = flags.get("http_client", "lean")
        if client not in ("lean", "aiohttp"):
            raise ConfigError(f"--http-client = {client!r}: allowed: lean, aiohttp")
        options = EngineOptions(
            grace_s=grace, seed=traffic.seed, http_client="lean" if client == "lean" else "aiohttp"
        )
        return cls(settings, plan, thresholds, options)

    def describe(self) -> str:
        plan, s = self.plan, self.settings
        what = f"{plan.target_per_s:g}/s" if plan.target_per_s else "max (closed model)"
        workers = f"{plan.workers} worker{'s' if plan.workers > 1 else ''}"
        return f"load {s.url}: {what} for {plan.duration_s:g} s, cap {s.concurrency}, {workers}"

    def engine(self) -> Engine:
        """The engine of a one-worker load test (more workers each make their own)."""
        return Engine(self.settings, options=self.options)


@dataclass(frozen=True)
class LoadResult:
    """A load test's report, its thresholds judged, and any worker that failed."""

    report: LoadReport
    verdicts: tuple[CheckResult, ...]  # the thresholds, judged
    failed: tuple[str, ...]  # one line per worker that died or failed

    def __repr__(self) -> str:
        n = self.report.notifications
        return (f"LoadResult(passed={self.passed}, {n.delivered} of {n.scheduled} delivered, "
                f"{len(self.verdicts)} thresholds, {len(self.failed)} workers failed)")  # fmt: skip

    @property
    def passed(self) -> bool:
        """Every threshold met; with none, something was delivered. A lost worker fails."""
        if self.failed:
            return False
        if self.verdicts:
            return all(v.status != "failed" for v in self.verdicts)
        return self.report.notifications.delivered > 0


async def load_one(job: LoadJob, engine: Engine) -> LoadResult:
    """A load test in this process (one worker)."""
    metrics = await run_share(engine, job.settings, job.plan, 0)
    return _result(job, metrics, (), SIGNALS)


def load_workers(job: LoadJob, signals: StopSignals = SIGNALS) -> LoadResult:
    """A load test on `job.plan.workers` processes; blocks until they are done. Stops are
    passed on from `signals` (by default the process's own)."""
    outcome = run_workers(job.settings, job.plan, job.options, signals)
    return _result(job, outcome.metrics, outcome.failed, signals)


def _result(
    job: LoadJob, metrics: Metrics, failed: tuple[str, ...], signals: StopSignals
) -> LoadResult:
    verdicts = tuple(t.judge(observe(t.metric, metrics)) for t in job.thresholds)
    first = signals.first
    report = load_report(
        metrics,
        job.settings,
        job.plan,
        interrupted=first.name if first else None,
        workers_failed=failed,
        thresholds=verdicts,
    )
    return LoadResult(report, verdicts, failed)
