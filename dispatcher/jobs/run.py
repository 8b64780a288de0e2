"""`run`: notify many processes at the platform's settings, optionally judged by a scenario."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..checks.result import CheckResult
from ..engine import Engine, EngineOptions
from ..errors import ConfigError
from ..report import RunReport, run_report, scenario_section
from ..scenario import Scenario, judge, load_scenario
from ..settings import RunOptions, Settings, TrafficSettings, build_settings, validate_flags
from ..signals import SIGNALS
from ..traffic import TrafficPlan
from .flags import Flags, settings_flags

_TRAFFIC_FLAGS = {"count": "count", "duplicates": "duplicates", "reorder": "reorder",
                  "unknown_status": "unknown", "seed": "seed"}  # fmt: skip


@dataclass(frozen=True)
class RunJob:
    settings: Settings
    traffic: TrafficSettings
    options: RunOptions
    scenario: Scenario | None = None
    scenario_file: Path | None = None

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
        # The scenario's traffic, overridden by any traffic flag given.
        given = {key: flags.get(name) for name, key in _TRAFFIC_FLAGS.items()}
        base = scenario.traffic.model_dump(include=set(given)) if scenario else {}
        traffic = validate_flags(
            TrafficSettings, {**base, **{k: v for k, v in given.items() if v is not None}}
        )
        options = validate_flags(
            RunOptions,
            {"grace_s": flags.get("grace"), "progress_every_s": flags.get("progress_every")},
        )
        return cls(settings, traffic, options, scenario, path)

    def engine(self) -> Engine:
        options = EngineOptions(grace_s=self.options.grace_s, seed=self.traffic.seed)
        return Engine(self.settings, options=options)


@dataclass(frozen=True)
class RunResult:
    """A run's report and, with a scenario, its expectations judged."""

    report: RunReport
    verdicts: tuple[CheckResult, ...]  # the scenario's expectations, judged

    def __repr__(self) -> str:
        n = self.report.notifications
        return (f"RunResult(passed={self.passed}, {n.delivered} of {n.scheduled} delivered, "
                f"{n.exhausted} exhausted, {n.cancelled} cancelled)")  # fmt: skip

    @property
    def passed(self) -> bool:
        """Every expectation met; without a scenario, every notification delivered."""
        if self.report.scenario is not None:
            return self.report.scenario.passed
        n = self.report.notifications
        return n.delivered == n.scheduled


async def run(job: RunJob, engine: Engine | None = None) -> RunResult:
    """Deliver the job's traffic through `engine` (default: `job.engine()`), then judge the
    scenario's expectations on what was measured."""
    engine = engine or job.engine()
    metrics = await engine.run(TrafficPlan.of(job.settings, job.traffic, job.traffic.count))
    verdicts: list[CheckResult] = []
    if job.scenario is not None:
        verdicts = await judge(job.scenario, metrics, job.settings)
    first = SIGNALS.first
    report = run_report(
        metrics,
        job.settings,
        traffic=job.traffic,
        interrupted=first.name if first else None,
        scenario=(
            scenario_section(job.scenario.name, str(job.scenario_file), verdicts)
            if job.scenario is not None
            else None
        ),
    )
    return RunResult(report, tuple(verdicts))
