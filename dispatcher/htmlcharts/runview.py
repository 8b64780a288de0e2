"""A `run` report as the load report the HTML page draws from: the same timeline, throttle,
outcomes and spectrum; what a run does not measure (a target rate, the sender's lag, response
time summaries) left empty, and the page leaves those rows out for a run."""

from __future__ import annotations

from ..report.model import (
    LagSummary,
    LoadLatency,
    LoadReport,
    Rate,
    RunReport,
    Sender,
    Summary,
    Traffic,
    _Delivery,
)

_NOTHING = Summary(p50=None, p90=None, p95=None, p99=None, p99_9=None, max=None)


def as_load(run: RunReport) -> LoadReport:
    latency = run.latency_ms
    service = Summary(p50=latency.p50, p90=latency.p90, p95=None, p99=latency.p99, p99_9=None,
                      max=latency.max)  # fmt: skip
    traffic = run.traffic or Traffic(
        count=run.notifications.scheduled, duplicates=0.0, reorder=0.0, unknown=0.0, seed=None,
        flow=str(run.settings.get("flow", "-")),
    )  # fmt: skip
    delivered, duration = run.notifications.delivered, run.duration_s
    common = {name: getattr(run, name) for name in _Delivery.model_fields if name != "kind"}
    return LoadReport(
        **common,
        latency_ms=LoadLatency(service=service, response=_NOTHING, spectrum=run.spectrum),
        traffic=traffic,
        rate=Rate(
            model="closed", target_per_s=None, attempted_per_s=None,
            achieved_per_s=delivered / duration if duration else None, queued=0, dropped=0,
            late_starts=0, arrival_window_s=duration, graceful_stop_s=0.0, profile=None,
            duration_s=duration,
        ),
        sender=Sender(
            loop_lag_ms=LagSummary(p50=None, p99=None, max=None), saturated=False,
            late_start_share=0.0, late_seconds=0, late_threshold_ms=0.0,
            throttled=run.throttle.min_limit < run.throttle.cap, message="",
        ),
        workers=run.workers,
        timeline=run.timeline or [],
        workers_failed=run.workers_failed,
        shards=run.shards,
        samples=run.samples,
        slowest=run.slowest,
        tool_version=run.tool_version,  # absent in a report written before them: the page
        generated_at=run.generated_at,  # says when it was rendered instead
    )  # fmt: skip
