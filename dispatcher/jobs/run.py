"""`run`: notify many processes at the platform's settings, optionally judged by a scenario."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checks.result import CheckResult
from ..engine import Engine, EngineOptions
from ..errors import ConfigError
from ..hdrlog import check_target, write_hdr_log
from ..load import (
    LoadPlan,
    WorkersOutcome,
    logged,
    run_share,
    run_workers,
    worker_options,
    worker_settings,
)
from ..metrics import Metrics
from ..report import RunReport, run_report, scenario_section
from ..report.shard import ShardResult
from ..scenario import Scenario, judge, load_scenario
from ..settings import RunOptions, Settings, TrafficSettings, build_settings, validate_flags
from ..signals import SIGNALS, StopSignals
from ..transport import HttpClient
from .flags import Flags, settings_flags
from .payload import attempt_log, payload_control
from .sharding import UNSHARDED, Sharding, http_client, senders, shard_result

_TRAFFIC_FLAGS = {"count": "count", "duplicates": "duplicates", "reorder": "reorder",
                  "unknown_status": "unknown", "seed": "seed"}  # fmt: skip


@dataclass(frozen=True)
class RunJob:
    settings: Settings  # the whole run's: each worker (and shard) takes its part of the cap
    traffic: TrafficSettings
    options: RunOptions
    scenario: Scenario | None = None
    scenario_file: Path | None = None
    plan: LoadPlan | None = None  # how the count splits over workers and shards
    sharding: Sharding = UNSHARDED
    http_client: HttpClient = "lean"
    hdr_log: Path | None = None  # --hdr-log: the interval log, written by `judged`

    @classmethod
    def from_flags(cls, flags: Flags) -> RunJob:
        path: Path | None = flags.get("scenario")
        if flags.get("junit") is not None and path is None:
            raise ConfigError(
                "--junit goes with a scenario file: webhook-sim run SCENARIO --junit PATH"
            )
        scenario = load_scenario(path) if path is not None else None
        settings = build_settings(
            config=flags.get("config"),
            scenario=(str(path), scenario.settings_layer()) if scenario else None,
            flags=settings_flags(flags),
        )
        sharding = Sharding.from_flags(flags)
        # The scenario's traffic, overridden by any traffic flag given.
        given = {key: flags.get(name) for name, key in _TRAFFIC_FLAGS.items()}
        base = scenario.traffic.model_dump(include=set(given)) if scenario else {}
        traffic = validate_flags(
            TrafficSettings, {**base, **{k: v for k, v in given.items() if v is not None}}
        )
        payload = payload_control(flags, settings.flow)
        if payload.bodies:  # one process per body
            if flags.get("count") is not None:
                raise ConfigError("--count and --bodies do not go together: one process per body")
            traffic = traffic.model_copy(update={"count": len(payload.bodies)})
        traffic = traffic.model_copy(update={"seed": sharding.seed(traffic.seed)})
        options = validate_flags(
            RunOptions,
            {"grace_s": flags.get("grace"), "progress_every_s": flags.get("progress_every")},
        )
        plan = LoadPlan(
            None, None, traffic, senders(flags, settings, sharding.shard), None,
            count=traffic.count, shard=sharding.shard, start_at=sharding.start_at,
            start_tolerance_s=sharding.tolerance_s, payload=payload, attempt_log=attempt_log(flags),
        )  # fmt: skip
        hdr_log = check_target(flags.get("hdr_log"))
        return cls(settings, traffic, options, scenario, path, plan, sharding, http_client(flags),
                   hdr_log)  # fmt: skip

    @property
    def split(self) -> LoadPlan:
        """How the count splits: as planned, or (a job built in code) all in one worker."""
        return self.plan or LoadPlan(None, None, self.traffic, 1, None, count=self.traffic.count)

    def engine_options(self) -> EngineOptions:
        return EngineOptions(
            grace_s=self.options.grace_s, seed=self.traffic.seed, http_client=self.http_client
        )

    def engine(self) -> Engine:
        """The engine of a one-worker run (more workers each make their own)."""
        options = worker_options(self.engine_options(), self.split, 0)
        mine = worker_settings(self.settings, self.split, 0)
        return Engine(mine, options=options, observer=logged(self.split, mine))


@dataclass(frozen=True)
class RunResult:
    """A run's report and, with a scenario, its expectations judged."""

    report: RunReport
    verdicts: tuple[CheckResult, ...]  # the scenario's expectations, judged
    shard: ShardResult | None = None  # with --shard-out: what merge takes

    def __repr__(self) -> str:
        n = self.report.notifications
        return (f"RunResult(passed={self.passed}, {n.delivered} of {n.scheduled} delivered, "
                f"{n.exhausted} exhausted, {n.cancelled} cancelled)")  # fmt: skip

    @property
    def passed(self) -> bool:
        """Every expectation met; without a scenario, every notification delivered. A lost
        worker fails."""
        if self.report.workers_failed:
            return False
        if self.report.scenario is not None:
            return self.report.scenario.passed
        n = self.report.notifications
        return n.delivered == n.scheduled


async def run(job: RunJob, engine: Engine | None = None) -> RunResult:
    """Deliver the job's traffic through `engine` (default: `job.engine()`), then judge the
    scenario's expectations on what was measured."""
    engine = engine or job.engine()
    metrics = await run_share(engine, engine.settings, job.split, 0)
    return await judged(job, metrics, ())


def run_workers_of(
    job: RunJob,
    signals: StopSignals = SIGNALS,
    on_progress: Callable[[Metrics], None] | None = None,
) -> WorkersOutcome:
    """The run on `job.plan.workers` processes; blocks until they are done."""
    return run_workers(job.settings, job.split, job.engine_options(), signals, on_progress)


async def judged(job: RunJob, metrics: Metrics, failed: tuple[str, ...]) -> RunResult:
    """The scenario's expectations judged on what was measured, and the report."""
    verdicts: list[CheckResult] = []
    if job.scenario is not None:
        verdicts = await judge(job.scenario, metrics, job.settings)
    first = SIGNALS.first
    interrupted = first.name if first else None
    scenario = None
    if job.scenario is not None:
        scenario = scenario_section(job.scenario.name, str(job.scenario_file), verdicts)
    report = run_report(
        metrics, job.settings, traffic=job.traffic, interrupted=interrupted, scenario=scenario,
        workers=job.split.workers, workers_failed=failed,
    )  # fmt: skip
    write_hdr_log(job.hdr_log, metrics, job.sharding.start_at)
    shard = None
    if job.sharding.out is not None:
        shard = shard_result(
            "run", job.settings, job.split, job.sharding, metrics,
            judged={"scenario": _scenario_context(job, verdicts)},
            workers_failed=failed, interrupted=interrupted,
        )  # fmt: skip
    return RunResult(report, tuple(verdicts), shard)


def _scenario_context(job: RunJob, verdicts: list[CheckResult]) -> dict[str, Any] | None:
    """What merge re-judges the whole by: the expectations, and this shard's verdicts (probes
    such as bad_credentials_rejected are judged where they ran)."""
    if job.scenario is None:
        return None
    return {
        "name": job.scenario.name,
        "file": str(job.scenario_file),
        "expectations": [e.text for e in job.scenario.expectations],
        "verdicts": [v.as_json() for v in verdicts],
    }
