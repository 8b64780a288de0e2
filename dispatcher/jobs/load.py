"""`load`: arrivals at a rate over a duration, on one or more worker processes, judged by
thresholds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..arrivals import RateProfile, parse_duration
from ..checks.result import CheckResult
from ..engine import Engine, EngineOptions
from ..errors import ConfigError
from ..hdrlog import check_target, write_hdr_log
from ..load import LoadPlan, logged, run_share, run_workers, worker_options, worker_settings
from ..metrics import Metrics
from ..report import LoadReport, load_report
from ..report.shard import ShardResult
from ..scenario import Expectation, observe
from ..settings import RunOptions, Settings, TrafficSettings, build_settings, validate_flags
from ..signals import SIGNALS, StopSignals
from .flags import Flags, settings_flags
from .payload import attempt_log, payload_control
from .sharding import UNSHARDED, Sharding, http_client, senders, shard_result


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


@dataclass(frozen=True)
class LoadJob:
    settings: Settings  # the whole run's: each worker (and shard) takes its part of the cap
    plan: LoadPlan
    thresholds: tuple[Expectation, ...]
    options: EngineOptions
    sharding: Sharding = UNSHARDED
    hdr_log: Path | None = None  # --hdr-log: the interval log, written by `_result`

    @classmethod
    def from_flags(cls, flags: Flags) -> LoadJob:
        settings = build_settings(config=flags.get("config"), flags=settings_flags(flags))
        sharding = Sharding.from_flags(flags)
        traffic = validate_flags(
            TrafficSettings,
            {"duplicates": flags.get("duplicates"), "reorder": flags.get("reorder"),
             "unknown": flags.get("unknown_status"), "seed": flags.get("seed")},
        )  # fmt: skip
        traffic = traffic.model_copy(update={"seed": sharding.seed(traffic.seed)})
        thresholds = tuple(_threshold(text) for text in flags.get("expect") or ())
        profile, seconds = _profile(flags)
        # The processes planned (the whole run's); a closed model has no count: 0.
        traffic = traffic.model_copy(update={"count": profile.arrivals if profile else 0})
        workers = senders(flags, settings, sharding.shard)
        grace = validate_flags(RunOptions, {"grace_s": flags.get("grace")}).grace_s
        graceful_stop = parse_duration(flags.get("graceful_stop", "10s"), flag="--graceful-stop")
        plan = LoadPlan(
            profile, seconds, traffic, workers, graceful_stop, shard=sharding.shard,
            start_at=sharding.start_at, start_tolerance_s=sharding.tolerance_s,
            payload=payload_control(flags, settings.flow), attempt_log=attempt_log(flags),
        )  # fmt: skip
        options = EngineOptions(grace_s=grace, seed=traffic.seed, http_client=http_client(flags))
        hdr_log = check_target(flags.get("hdr_log"))
        return cls(settings, plan, thresholds, options, sharding, hdr_log)

    def describe(self) -> str:
        plan, s = self.plan, self.settings
        what = f"{plan.target_per_s:g}/s" if plan.target_per_s else "max (closed model)"
        workers = f"{plan.workers} worker{'s' if plan.workers > 1 else ''}"
        line = f"load {s.url}: {what} for {plan.run_for_s:g} s, cap {s.concurrency}, {workers}"
        if plan.shard.count == 1:
            return line
        rate = f"{plan.target_per_s / plan.shard.count:g}/s, " if plan.target_per_s else ""
        return f"{line}; shard {plan.shard}: {rate}cap {plan.shard.whole(s.concurrency)}"

    def engine(self) -> Engine:
        """The engine of a one-worker load test (more workers each make their own)."""
        options = worker_options(self.options, self.plan, 0)
        mine = worker_settings(self.settings, self.plan, 0)
        return Engine(mine, options=options, observer=logged(self.plan, mine))


@dataclass(frozen=True)
class LoadResult:
    """A load test's report, its thresholds judged, and any worker that failed."""

    report: LoadReport
    verdicts: tuple[CheckResult, ...]  # the thresholds, judged
    failed: tuple[str, ...]  # one line per worker that died or failed
    shard: ShardResult | None = None  # with --shard-out: what merge takes

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
    metrics = await run_share(engine, engine.settings, job.plan, 0)
    return _result(job, metrics, (), SIGNALS)


def load_workers(
    job: LoadJob,
    signals: StopSignals = SIGNALS,
    on_progress: Callable[[Metrics], None] | None = None,
) -> LoadResult:
    """A load test on `job.plan.workers` processes; blocks until they are done. Stops are
    passed on from `signals` (by default the process's own); `on_progress` is shown the
    workers' figures, added up, as they come (`run_workers`)."""
    outcome = run_workers(job.settings, job.plan, job.options, signals, on_progress)
    return _result(job, outcome.metrics, outcome.failed, signals)


def _result(
    job: LoadJob, metrics: Metrics, failed: tuple[str, ...], signals: StopSignals
) -> LoadResult:
    verdicts: tuple[CheckResult, ...] = ()
    if job.plan.shard.count == 1:  # a shard's share is not the run: merge judges the whole
        verdicts = tuple(t.judge(observe(t.metric, metrics)) for t in job.thresholds)
    first = signals.first
    interrupted = first.name if first else None
    report = load_report(
        metrics,
        job.settings,
        job.plan,
        interrupted=interrupted,
        workers_failed=failed,
        thresholds=verdicts,
    )
    write_hdr_log(job.hdr_log, metrics, job.sharding.start_at)
    shard = None
    if job.sharding.out is not None:
        judged = {"thresholds": [t.text for t in job.thresholds]}
        shard = shard_result(
            "load", job.settings, job.plan, job.sharding, metrics,
            judged=judged, workers_failed=failed, interrupted=interrupted,
        )  # fmt: skip
    return LoadResult(report, verdicts, failed, shard)
