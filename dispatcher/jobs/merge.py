"""`merge`: the shards of one run (their `--shard-out` files) as the one report a single
process would have written for the same counts and histograms, judged once.

A shard that is missing, given twice, or from another run (another run id, or settings that
differ: the fingerprint) is refused, unless `allow_partial` merges what is there and says what
is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..arrivals import RateProfile
from ..checks.result import CheckResult
from ..errors import ConfigError
from ..load import LoadPlan
from ..metrics import Metrics, merge
from ..report import LoadReport, RunReport, load_report, run_report, scenario_section
from ..report.model import Shards
from ..report.shard import ShardResult, load_shard
from ..scenario import Expectation, observe
from ..settings import TrafficSettings
from ..shards import MAX_SHARDS
from .sharding import agreement


@dataclass(frozen=True)
class Recorded:
    """The settings as a shard recorded them (every secret already ***), for the report."""

    flow: str
    settings: dict[str, Any]

    def redacted(self) -> dict[str, Any]:
        return self.settings


@dataclass(frozen=True)
class MergeOutcome:
    report: RunReport | LoadReport
    verdicts: tuple[CheckResult, ...]  # thresholds or the scenario's expectations, judged
    failed: tuple[str, ...]  # shards' workers that died or failed, each named
    missing: tuple[int, ...]  # shard indices not merged (allow_partial)

    @property
    def passed(self) -> bool:
        """Every threshold (or expectation) met; with none, what the command alone would say
        (load: something delivered; run: everything delivered). A lost worker or shard fails."""
        if self.failed or self.missing or self.report.interrupted:
            return False
        if self.verdicts:
            return all(v.status != "failed" for v in self.verdicts)
        n = self.report.notifications
        if isinstance(self.report, LoadReport):
            return n.delivered > 0
        return n.delivered == n.scheduled


def checked(
    shards: Sequence[tuple[str, ShardResult]], *, expect_shards: int | None, allow_partial: bool
) -> tuple[list[ShardResult], tuple[int, ...]]:
    """The shards of one run, in index order, and the indices missing; one line for the first
    that does not belong."""
    if not shards:
        raise ConfigError("merge needs at least one shard result (files written by --shard-out)")
    first_source, first = shards[0]
    count = first.shard.count
    if expect_shards is not None and expect_shards != count:
        raise ConfigError(
            f"--expect-shards = {expect_shards}: {first_source} is shard "
            f"{first.shard.index}/{count} of a run split in {count}"
        )
    seen: dict[int, str] = {}
    for source, shard in shards:
        try:
            own = agreement(shard.command, shard.shard.count, shard.context)
        except (KeyError, TypeError, AttributeError):
            own = None
        if own != shard.fingerprint:
            raise ConfigError(f"{source}: its settings do not match its own fingerprint (the "
                              "file was changed): never merged")  # fmt: skip
        if shard.run_id != first.run_id:
            raise ConfigError(
                f"{source}: a shard of run {shard.run_id!r}, not {first.run_id!r} "
                f"({first_source}): foreign shards are never merged"
            )
        if shard.shard.count != count or shard.fingerprint != first.fingerprint:
            what = "split" if shard.shard.count != count else "settings"
            raise ConfigError(
                f"{source}: run {shard.run_id!r} with other {what} than {first_source} "
                f"(fingerprint {shard.fingerprint} against {first.fingerprint}): foreign "
                "shards are never merged"
            )
        if shard.shard.index in seen:
            raise ConfigError(
                f"{source}: shard {shard.shard.index}/{count} given twice (also "
                f"{seen[shard.shard.index]})"
            )
        seen[shard.shard.index] = source
    missing = tuple(i for i in range(count) if i not in seen)
    if missing and not allow_partial:
        listed = ", ".join(f"{i}/{count}" for i in missing[:20])
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise ConfigError(
            f"missing shards {listed}{more} of run {first.run_id!r} (--allow-partial merges "
            "what is there)"
        )
    return sorted((s for _, s in shards), key=lambda s: s.shard.index), missing


def plan_from(context: dict[str, Any], workers: int) -> LoadPlan:
    """The whole run's plan, from what a shard recorded (`jobs.sharding.plan_context`)."""
    plan = context["plan"]
    profile = plan["profile"]
    return LoadPlan(
        RateProfile(tuple((float(t), float(r)) for t, r in profile)) if profile else None,
        plan["duration_s"],
        TrafficSettings.model_validate(plan["traffic"]),
        workers,
        plan["graceful_stop_s"],
        count=plan["count"],
    )


def merge_shards(
    shards: Sequence[tuple[str, ShardResult]],
    *,
    expect_shards: int | None = None,
    allow_partial: bool = False,
    thresholds: Sequence[str] = (),
) -> MergeOutcome:
    """One report for the shards (`source`, result) of one run. `thresholds`: METRIC OP VALUE
    texts; none given, a load is judged by the thresholds its shards were given."""
    ordered, missing = checked(shards, expect_shards=expect_shards, allow_partial=allow_partial)
    first = ordered[0]
    for source, shard in shards:  # each alone first: a broken one is named
        _readable(source, shard)
    metrics = merge([s.metrics for s in ordered])
    failed = tuple(
        f"shard {s.shard.index}/{s.shard.count}: {line}"
        for s in ordered
        for line in s.workers_failed
    ) + tuple(
        f"shard {s.shard.index}/{s.shard.count}: interrupted by {s.interrupted}: its part of "
        "the run was cut short"
        for s in ordered
        if s.interrupted
    )
    context = first.context
    described = Recorded(context["flow"], context["settings"])
    interrupted = next((s.interrupted for s in ordered if s.interrupted), None)
    plan = plan_from(context, sum(s.workers for s in ordered))
    section = Shards(
        run_id=first.run_id, count=first.shard.count, merged=[s.shard.index for s in ordered],
        missing=list(missing), start_at=min((s.start_at for s in ordered if s.start_at),
                                            default=None),
        fingerprint=first.fingerprint,
    )  # fmt: skip
    if first.command == "load":
        texts = list(thresholds) or context.get("thresholds", [])
        verdicts = tuple(_judge(text, metrics) for text in texts)
        report: RunReport | LoadReport = load_report(
            metrics, described, plan, interrupted=interrupted, workers_failed=failed,
            thresholds=verdicts,
        )  # fmt: skip
    else:
        verdicts = _scenario(context.get("scenario"), ordered, metrics, thresholds)
        scenario = context.get("scenario")
        report = run_report(
            metrics, described, traffic=plan.traffic, interrupted=interrupted,
            scenario=scenario_section(scenario["name"], scenario["file"], verdicts)
            if scenario else None, workers=plan.workers, workers_failed=failed,
        )  # fmt: skip
    return MergeOutcome(report.model_copy(update={"shards": section}), verdicts, failed, missing)


def _readable(source: str, shard: ShardResult) -> None:
    """Refuse a shard whose figures cannot be read back (a file edited by hand)."""
    try:
        m = merge([shard.metrics])
        counts = (m.scheduled, m.delivered, m.exhausted, m.cancelled)
        ok = all(isinstance(c, int) and c >= 0 for c in counts) and sum(counts[1:]) == m.scheduled
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        ok = False
    if not ok:
        raise ConfigError(f"{source}: a shard result whose figures cannot be read back (its "
                          "metrics were changed or cut): never merged")  # fmt: skip


def merge_files(
    paths: Sequence[Path],
    *,
    expect_shards: int | None = None,
    allow_partial: bool = False,
    thresholds: Sequence[str] = (),
) -> MergeOutcome:
    """`merge_shards` of the shard results in these files."""
    if expect_shards is not None and not 1 <= expect_shards <= MAX_SHARDS:
        raise ConfigError(f"--expect-shards = {expect_shards}: must be from 1 to {MAX_SHARDS}")
    shards = [(str(path), load_shard(path)) for path in paths]
    return merge_shards(
        shards, expect_shards=expect_shards, allow_partial=allow_partial, thresholds=thresholds
    )


def _judge(text: str, metrics: Metrics) -> CheckResult:
    try:
        threshold = Expectation.parse(text)
    except ValueError as exc:
        raise ConfigError(f"--expect = {text!r}: {exc}") from None
    if threshold.metric == "bad_credentials_rejected":
        raise ConfigError(f"--expect = {text!r}: a probe, judged by each shard, not by merge")
    return threshold.judge(observe(threshold.metric, metrics))


def _scenario(
    scenario: dict[str, Any] | None,
    shards: list[ShardResult],
    metrics: Metrics,
    thresholds: Sequence[str],
) -> tuple[CheckResult, ...]:
    """A run's scenario judged on the whole: each expectation on the merged figures, except
    the probes, which each shard ran: the worst of theirs."""
    if thresholds:
        return tuple(_judge(text, metrics) for text in thresholds)
    if scenario is None:
        return ()
    verdicts: list[CheckResult] = []
    for text in scenario["expectations"]:
        expectation = Expectation.parse(text)
        if expectation.metric != "bad_credentials_rejected":
            verdicts.append(expectation.judge(observe(expectation.metric, metrics)))
            continue
        ran = [
            CheckResult.from_json(v)
            for s in shards
            for v in (s.context.get("scenario") or {}).get("verdicts", [])
            if v.get("name") == expectation.text
        ]
        order = {"failed": 0, "skipped": 1, "passed": 2}
        verdicts.append(min(ran, key=lambda v: order.get(v.status, 0)) if ran else
                        expectation.judge(None))  # fmt: skip
    return tuple(verdicts)
