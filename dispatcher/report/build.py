"""Building the typed report from what a run measured: the one place a report is made."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from hdrh.histogram import HdrHistogram

from ..checks.result import CheckResult
from ..metrics import Metrics, new_histogram, summarize_ms
from ..metrics import Second as Measured
from ..redact import REDACTOR
from ..samples import kind_counts
from ..saturation import WARMUP_S, judge_sender
from ..settings import Settings, TrafficSettings
from .model import (
    Attempts,
    CheckReport,
    LagSummary,
    LoadLatency,
    LoadReport,
    Notifications,
    OutcomeSample,
    PlatformReport,
    PlatformSection,
    Rate,
    Requests,
    RunReport,
    Scenario,
    Second,
    Sender,
    SlowAttempt,
    SpectrumPoint,
    Summary,
    Summary4,
    Throttle,
    ThrottlePoint,
    Traffic,
    Verdict,
)

if TYPE_CHECKING:
    from ..load import LoadPlan


class Described(Protocol):
    """What a report says about the settings: `Settings` itself, or, when merging shards, the
    settings a shard recorded (every secret already ***)."""

    @property
    def flow(self) -> str: ...

    def redacted(self) -> dict[str, Any]: ...


def verdict(result: CheckResult) -> Verdict:
    return Verdict.model_validate(result.as_json())


def _delivery(m: Metrics, settings: Described, interrupted: str | None) -> dict[str, Any]:
    """The fields every delivery report shares; every secret in the settings is `***`."""
    return {
        "notifications": Notifications(
            scheduled=m.scheduled, delivered=m.delivered, exhausted=m.exhausted,
            cancelled=m.cancelled,
        ),
        "attempts": Attempts(
            total=m.attempts_total,
            max_per_notification=m.max_attempts_per_notification,
            by_outcome=dict(sorted(m.by_outcome.items())),
        ),
        # Attempts are what the platform's rules count (max_attempts); requests are what the
        # receiver got: an attempt re-sends once after a 401 that renewed an OAuth2 token.
        "requests": Requests(
            sent=m.requests_total, resent_after_401=m.resent_after_401,
            resent_on_closed_connection=m.resent_stale,
        ),
        "duplicates_sent": m.duplicates_sent,
        "reordered_sent": m.reordered_sent,
        "unknown_sent": m.unknown_sent,
        "throttle": Throttle(
            cap=m.cap, min_limit=m.min_limit, final_limit=m.limit,
            timeline=[
                ThrottlePoint(
                    t_s=p.t_s, limit=p.limit, failure_rate=round(p.failure_rate, 4),
                    attempts=p.attempts,
                )
                for p in m.timeline
            ],
        ),
        "peak_in_flight": m.peak_in_flight,
        "duration_s": round(m.duration_s, 3),
        "settings": settings.redacted(),
        "interrupted": interrupted,
    }  # fmt: skip


def _summary4(m: Metrics) -> Summary4:
    latency = summarize_ms(m.latency)
    return Summary4(p50=latency["p50"], p90=latency["p90"], p99=latency["p99"], max=latency["max"])


def _traffic(traffic: TrafficSettings, settings: Described) -> Traffic:
    return Traffic(**traffic.model_dump(), flow=settings.flow)


def run_report(
    m: Metrics,
    settings: Described,
    *,
    traffic: TrafficSettings | None = None,
    interrupted: str | None = None,
    scenario: Scenario | None = None,
    workers: int = 1,
    workers_failed: Sequence[str] = (),
) -> RunReport:
    return RunReport(
        **_delivery(m, settings, interrupted),
        latency_ms=_summary4(m),
        traffic=_traffic(traffic, settings) if traffic is not None else None,
        scenario=scenario,
        workers=workers,
        workers_failed=list(workers_failed) or None,
        timeline=[second(s, detailed=m.detailed) for s in m.seconds] or None,
        spectrum=spectrum(m),
        **_detail(m),
        **_stamp(),
    )


def _detail(m: Metrics) -> dict[str, Any]:
    """The outcomes' samples and the slowest attempts, when they were recorded."""
    if not m.detailed:
        return {"samples": None, "slowest": None}
    samples = [
        OutcomeSample(
            outcome=s.outcome, status=s.status, excerpt=REDACTOR.scrub(s.detail),
            process_id=s.process_id, key=s.key, attempt=s.attempt, t_s=s.t_s,
        )
        for _, s in sorted(m.samples.items())  # in outcome order, merged or not
    ]  # fmt: skip
    slowest = [
        SlowAttempt(
            process_id=s.process_id, key=s.key, attempt=s.attempt, outcome=s.outcome,
            response_ms=round(s.response_s * 1000, 3), service_ms=round(s.service_s * 1000, 3),
            t_s=s.t_s, final=s.final,
        )
        for s in m.slowest.ranked()
    ]  # fmt: skip
    return {"samples": samples or None, "slowest": slowest or None}


def scenario_section(name: str, file: str, verdicts: Sequence[CheckResult]) -> Scenario:
    return Scenario(
        name=name,
        file=file,
        expectations=[verdict(v) for v in verdicts],
        passed=all(v.status == "passed" for v in verdicts),
    )


def platform_report(
    m: Metrics, settings: Settings, section: dict[str, Any], *, interrupted: str | None
) -> PlatformReport:
    return PlatformReport(
        **_delivery(m, settings, interrupted),
        latency_ms=_summary4(m),
        platform=PlatformSection.model_validate(section),
    )


def check_report(
    results: Sequence[CheckResult], settings: Settings, *, duration_s: float,
    interrupted: str | None,
) -> CheckReport:  # fmt: skip
    return CheckReport(
        checks=[verdict(r) for r in results],
        passed=all(r.status != "failed" for r in results),
        duration_s=round(duration_s, 3),
        settings=settings.redacted(),
        interrupted=interrupted,
    )


# The HDR percentile spectrum: halving what is left each step (50, 75, 87.5, ...), then 99.999.
SPECTRUM = (0.0, *(100 - 100 / 2**k for k in range(1, 17)), 99.999, 100.0)


def _percentiles(histogram: HdrHistogram, percentiles: Sequence[float]) -> list[float | None]:
    """The histogram's values, in ms, at each percentile (0: the least, 100: the most), in one
    pass over its counts (a pass per percentile costs ~2 ms: an hour's timeline, minutes)."""
    if histogram.get_total_count() == 0:
        return [None for _ in percentiles]
    inner = histogram.get_percentile_to_value_dict([p for p in percentiles if 0 < p < 100])
    low, high = histogram.get_min_value(), histogram.get_max_value()
    return [float((low if p <= 0 else high if p >= 100 else inner[p]) / 1000) for p in percentiles]


def spectrum(m: Metrics) -> list[SpectrumPoint] | None:
    if m.latency.get_total_count() == 0 and m.response.get_total_count() == 0:
        return None
    service, response = _percentiles(m.latency, SPECTRUM), _percentiles(m.response, SPECTRUM)
    return [
        SpectrumPoint(percentile=round(p, 6), service_ms=a, response_ms=b)
        for p, a, b in zip(SPECTRUM, service, response, strict=True)
    ]


def second(s: Measured, *, detailed: bool = True) -> Second:
    """A timeline entry, with the second's response-time p50, p90, p99 and max (the p99 as
    `Measured.p99_ms` has it: the same HDR percentile); `detailed`: with its in-flight peak and
    outcome kinds (not when merged from shards that did not record them)."""
    p50 = p90 = p99 = top = None
    if s.response is not None:
        histogram = new_histogram()
        histogram.decode_and_add(s.response)
        p50, p90, p99, top = _percentiles(histogram, (50.0, 90.0, 99.0, 100.0))
    return Second(
        t=s.t, arrivals=s.arrivals, late_starts=s.late, attempts=s.attempts,
        deliveries=s.deliveries, failures=s.failures, limit=s.limit,
        p99_ms=p99, p50_ms=p50, p90_ms=p90, max_ms=top,
        peak_in_flight=s.peak_in_flight if detailed else None,
        outcomes=kind_counts(s.kinds) if detailed else None,
    )  # fmt: skip


def load_report(
    m: Metrics,
    settings: Described,
    plan: LoadPlan,
    *,
    interrupted: str | None,
    workers_failed: Sequence[str] = (),
    thresholds: Sequence[CheckResult] = (),
) -> LoadReport:
    """The `run` report plus what a load test needs: rates, both latencies, the sender."""
    lag = summarize_ms(m.loop_lag)
    judged = judge_sender(
        seconds=[(s.arrivals, s.late) for s in m.seconds if s.t >= WARMUP_S],
        lag_p99_ms=lag["p99"],
        cap=m.cap,
        min_limit=m.min_limit,
        queued=m.queued,
    )
    elapsed = plan.run_for_s or 0.0
    # Rates divide by the time measured, not the time asked for: a run stopped early, or one
    # whose retries went on after the duration, says what really happened.
    window = m.arrival_window_s
    return LoadReport(
        **_delivery(m, settings, interrupted),
        latency_ms=LoadLatency(
            service=Summary(**summarize_ms(m.latency)),
            response=Summary(**summarize_ms(m.response)),
            spectrum=spectrum(m),
        ),
        traffic=_traffic(plan.traffic, settings),
        rate=Rate(
            model="closed" if plan.profile is None else "open",
            # A shard's own report: its share of the target (every Nth arrival).
            target_per_s=plan.target_per_s / plan.shard.count if plan.target_per_s else None,
            attempted_per_s=m.arrivals / window if window > 0 else None,
            achieved_per_s=m.delivered / m.duration_s if m.duration_s else None,
            queued=m.queued,
            dropped=m.dropped,
            late_starts=m.late_starts,
            arrival_window_s=round(window, 3),
            graceful_stop_s=plan.graceful_stop_s or 0.0,
            profile=[list(p) for p in plan.profile.points] if plan.profile else None,
            duration_s=elapsed,
        ),
        sender=Sender(
            loop_lag_ms=LagSummary(p50=lag["p50"], p99=lag["p99"], max=lag["max"]),
            saturated=judged.saturated,
            late_start_share=judged.late_share,
            late_seconds=judged.late_seconds,
            late_threshold_ms=round(m.late_threshold_s * 1000, 3),
            throttled=judged.throttled,
            message=judged.message,
        ),
        workers=plan.workers,
        timeline=[second(s, detailed=m.detailed) for s in m.seconds],
        workers_failed=list(workers_failed) or None,
        thresholds=[verdict(t) for t in thresholds] or None,
        **_detail(m),
        **_stamp(),
    )


def _stamp() -> dict[str, str]:
    """Who built the report, and when: now (a merged report: when merged)."""
    from .. import __version__

    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {"tool_version": str(__version__), "generated_at": now}
