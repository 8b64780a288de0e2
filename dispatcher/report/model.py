"""The report as one typed value: what `run`, `load`, `check` and `platform` produce, and what
every renderer (console, JSON, JUnit, HTML) and every reader (`report`, merge, compare) takes.

The JSON report is `model_dump` of these models; its JSON Schema (`docs/report.schema.json`) is
generated from them (`python -m dispatcher.report.schema`) and carries `schema_version`. A
field may be added without a new version; renaming or removing one needs a new version and a
line in the README's changelog.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Literal[1] = 1
SCHEMA_ID = "https://github.com/webhook-sim/webhook-sim/docs/report.schema.json"

Ms = Annotated[float | None, Field(description="milliseconds; null when nothing was measured")]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Notifications(_Model):
    """Every notification taken from the plan ends in exactly one of the three outcomes."""

    scheduled: int
    delivered: int
    exhausted: int = Field(description="its last attempt failed")
    cancelled: int = Field(description="the run was stopped before it was delivered")


class Attempts(_Model):
    total: int
    max_per_notification: int
    by_outcome: dict[str, int] = Field(description="HTTP status, or error kind, to attempts")


class Requests(_Model):
    """What the receiver got: an attempt re-sends once after a 401 renewed an OAuth2 token,
    or when a kept-alive connection turned out closed."""

    sent: int
    resent_after_401: int
    resent_on_closed_connection: int


class Summary4(_Model):
    p50: Ms
    p90: Ms
    p99: Ms
    max: Ms


class Summary(_Model):
    p50: Ms
    p90: Ms
    p95: Ms
    p99: Ms
    p99_9: Ms
    max: Ms


class ThrottlePoint(_Model):
    t_s: float
    limit: int
    failure_rate: float
    attempts: int


class Throttle(_Model):
    cap: int
    min_limit: int
    final_limit: int
    timeline: list[ThrottlePoint] = Field(description="every AIMD decision")


class Traffic(_Model):
    count: int
    duplicates: float
    reorder: float
    unknown: float
    seed: int | None
    flow: str


class Verdict(_Model):
    """One check, scenario expectation or threshold."""

    name: str
    description: str
    status: Literal["passed", "failed", "skipped"]
    message: str
    evidence: list[str]
    needs: str = Field(description="the evidence a pass rests on")
    duration_s: float


class Scenario(_Model):
    name: str
    file: str
    expectations: list[Verdict]
    passed: bool


class _Delivery(_Model):
    """What every report of a delivery run (`run`, `load`, `platform`) holds."""

    schema_version: Literal[1] = SCHEMA_VERSION
    notifications: Notifications
    attempts: Attempts
    requests: Requests
    duplicates_sent: int
    reordered_sent: int
    unknown_sent: int
    throttle: Throttle
    peak_in_flight: int
    duration_s: float
    settings: dict[str, Any] = Field(description="the settings used; every secret is ***")
    interrupted: str | None = Field(description="the signal that stopped the run, if any")


class Shards(_Model):
    """A report merged from shards (`webhook-sim merge`): which were merged, which missing."""

    run_id: str
    count: int = Field(description="N: how many shards the run was split into")
    merged: list[int] = Field(description="the shard indices whose results are in this report")
    missing: list[int] = Field(description="indices not merged (only with --allow-partial)")
    start_at: str | None = Field(description="the instant every shard started, RFC 3339 UTC")
    fingerprint: str = Field(description="digest of the settings every shard agreed on")


class Rate(_Model):
    model: Literal["open", "closed"]
    target_per_s: float | None
    attempted_per_s: float | None = Field(description="first attempts per second of arrivals")
    achieved_per_s: float | None = Field(description="deliveries per second of the whole run")
    queued: int = Field(description="arrivals that started late because every slot was busy")
    dropped: int = Field(description="arrivals due before the duration that never started")
    late_starts: int = Field(description="arrivals that started late with a slot free")
    arrival_window_s: float
    graceful_stop_s: float
    profile: list[list[float]] | None = Field(description="the ramp's TIME:RATE points")
    duration_s: float


class SpectrumPoint(_Model):
    """One point of the HDR percentile spectrum (100 is the maximum)."""

    percentile: float
    service_ms: Ms
    response_ms: Ms


class LoadLatency(_Model):
    service: Summary = Field(description="request sent to answer read")
    response: Summary = Field(description="from the instant the attempt was due (no CO)")
    spectrum: list[SpectrumPoint] | None = Field(
        default=None,
        description="both latencies at the percentiles 0, 50, 75, 87.5, ... 99.999 and 100",
    )


class LagSummary(_Model):
    p50: Ms
    p99: Ms
    max: Ms


class Sender(_Model):
    """Whether webhook-sim itself kept up: figures of a saturated sender blame the wrong side."""

    loop_lag_ms: LagSummary
    saturated: bool
    late_start_share: float
    late_seconds: int
    late_threshold_ms: float
    throttled: bool
    message: str


class Second(_Model):
    t: int
    arrivals: int
    late_starts: int
    attempts: int
    deliveries: int
    failures: int
    limit: int
    p99_ms: Ms
    p50_ms: Ms = None
    p90_ms: Ms = None
    max_ms: Ms = None
    peak_in_flight: int | None = Field(
        default=None,
        description="the most attempts in flight at once during the second (merged from "
        "workers or shards: their peaks added up, an upper bound)",
    )
    outcomes: dict[str, int] | None = Field(
        default=None,
        description="attempts that ended in the second, by status class (2xx, 4xx, ...) or "
        "error kind (timeout, refused, reset, ...); only those that occurred",
    )


class OutcomeSample(_Model):
    """The first attempt that ended with one outcome: what the receiver said."""

    outcome: str = Field(description="the HTTP status, or the error kind")
    status: int | None
    excerpt: str = Field(
        description="the response body's first 200 characters (whitespace folded) or the "
        "error message; every secret ***"
    )
    process_id: str
    key: str = Field(description="the notification's status (or STATE/result)")
    attempt: int
    t_s: float = Field(description="when it ended, seconds from the start")


class SlowAttempt(_Model):
    """One of the slowest answered attempts, by service time (the receiver's own)."""

    process_id: str
    key: str = Field(description="the notification's status (or STATE/result)")
    attempt: int
    outcome: str = Field(description="the attempt's HTTP status")
    response_ms: float = Field(description="from the instant the attempt was due")
    service_ms: float = Field(description="request sent to answer read")
    t_s: float = Field(description="when it ended, seconds from the start")
    final: str | None = Field(description="how its notification ended: delivered, exhausted, "
                              "cancelled; null if it had not when the run ended")  # fmt: skip


_SAMPLES = "the first attempt of each outcome, with what the receiver said"
_SLOWEST = "the slowest answered attempts (at most 10), slowest first"
_TOOL_VERSION = "the webhook-sim that built it"
_GENERATED_AT = "when the report was built, RFC 3339 UTC (a merged report: when merged)"


class RunReport(_Delivery):
    kind: Literal["run"] = "run"
    latency_ms: Summary4 = Field(description="service time: request sent to answer read")
    traffic: Traffic | None = None
    scenario: Scenario | None = None
    workers: int = 1
    workers_failed: list[str] | None = None
    shards: Shards | None = None
    timeline: list[Second] | None = Field(default=None, description="one entry per second")
    spectrum: list[SpectrumPoint] | None = Field(
        default=None, description="latencies at percentiles, as a load report's"
    )
    samples: list[OutcomeSample] | None = Field(default=None, description=_SAMPLES)
    slowest: list[SlowAttempt] | None = Field(default=None, description=_SLOWEST)
    tool_version: str | None = Field(default=None, description=_TOOL_VERSION)
    generated_at: str | None = Field(default=None, description=_GENERATED_AT)


class LoadReport(_Delivery):
    kind: Literal["load"] = "load"
    latency_ms: LoadLatency
    traffic: Traffic
    rate: Rate
    sender: Sender
    workers: int
    timeline: list[Second] = Field(description="one entry per second of the run")
    workers_failed: list[str] | None = None
    thresholds: list[Verdict] | None = None
    shards: Shards | None = None
    tool_version: str | None = Field(default=None, description=_TOOL_VERSION)
    generated_at: str | None = Field(default=None, description=_GENERATED_AT)
    samples: list[OutcomeSample] | None = Field(default=None, description=_SAMPLES)
    slowest: list[SlowAttempt] | None = Field(default=None, description=_SLOWEST)


class PlatformSummary(_Model):
    processes: int
    finished: int
    webhook_missed: int
    missed_and_polled: int
    missed_never_learned: int
    learned_final_after_s_max: float | None


class PlatformSection(_Model):
    outage: Literal["drop", "delay"] | None = Field(description="the outage under way, if any")
    summary: PlatformSummary
    assertion_signatures: Literal["verified", "not verified"]
    connections: dict[str, Any] | None
    processes: list[dict[str, Any]] = Field(description="every process, its notifications, polls")


class PlatformReport(_Delivery):
    kind: Literal["platform"] = "platform"
    latency_ms: Summary4
    platform: PlatformSection


class CheckReport(_Model):
    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["check"] = "check"
    checks: list[Verdict]
    passed: bool
    duration_s: float
    settings: dict[str, Any]
    interrupted: str | None


Report = Annotated[
    RunReport | LoadReport | PlatformReport | CheckReport, Field(discriminator="kind")
]
AnyReport = RunReport | LoadReport | PlatformReport | CheckReport
# Sections written only when they apply (a scenario, failed workers, thresholds): absent, not
# null, as they were before the model existed.
OPTIONAL_SECTIONS = ("scenario", "workers_failed", "thresholds", "traffic", "shards", "timeline",
                     "spectrum", "samples", "slowest")  # fmt: skip


def as_json(report: AnyReport) -> dict[str, Any]:
    """The JSON report: `schema_version` and `kind` first, optional sections left out."""
    data = report.model_dump(mode="json")
    for key in OPTIONAL_SECTIONS:
        if data.get(key, 0) is None:
            del data[key]
    head = {"schema_version": data.pop("schema_version"), "kind": data.pop("kind")}
    return {**head, **data}
