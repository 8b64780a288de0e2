"""Scenario files: settings + traffic + expectations in YAML, turned into a run and a verdict.

    name: smoke
    description: a few notifications, all delivered fast
    settings: {flow: by-client, max_attempts: 3}     # the keys of a --config file
    traffic: {count: 50, duplicates: 0.1}
    expect:
      - delivered_ratio == 1
      - p99_ms < 500

Everything is validated when the file is read; a mistake names the file, the key path and what
is allowed.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from .bundled import scenario_path
from .checks.result import CheckResult
from .checks.suite import CheckContext, rejects_bad_credentials
from .errors import ConfigError
from .metrics import Metrics, summarize_ms
from .settings import Settings, check_tree, describe_validation_error, load_yaml, read_text_file

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
METRICS: dict[str, str] = {
    "delivered_ratio": "delivered / scheduled notifications",
    "delivered": "notifications delivered",
    "exhausted": "notifications whose last attempt failed",
    "cancelled": "notifications cancelled by an interrupt",
    "scheduled": "notifications sent, duplicates included",
    "failure_rate": "failed attempts / attempts",
    "attempts_per_notification": "attempts / scheduled notifications",
    "p50_ms": "median latency",
    "p90_ms": "90th percentile latency",
    "p99_ms": "99th percentile latency",
    "max_ms": "slowest response",
    "peak_in_flight": "most requests in flight at once",
    "min_limit": "lowest in-flight limit the throttle set",
    "response_p50_ms": "median response time from the intended start (load)",
    "response_p99_ms": "99th percentile response time from the intended start (load)",
    "response_max_ms": "slowest response from the intended start (load)",
    "achieved_rate": "deliveries per second",
    "queued": "arrivals that waited for a free slot (load)",
    "loop_lag_p99_ms": "the sender's event-loop lag, 99th percentile",
    "duplicates_accepted": "every duplicate send was delivered (true/false)",
    "reordered_accepted": "every late, reordered status was delivered (true/false)",
    "unknown_accepted": "every unknown status was delivered (true/false)",
    "bad_credentials_rejected": "the receiver refuses missing and wrong credentials (true/false)",
}
BOOLEAN_METRICS = frozenset(k for k, v in METRICS.items() if v.endswith("(true/false)"))
_EXPECTATION = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Expectation:
    metric: str
    op: str
    value: float | bool
    text: str

    @classmethod
    def parse(cls, text: str) -> Expectation:
        match = _EXPECTATION.match(text)
        if not match:
            raise ValueError(
                f"{text!r} is not 'METRIC OP VALUE' (OP one of {', '.join(OPERATORS)})"
            )
        metric, op, raw = match.groups()
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r} (allowed: {', '.join(METRICS)})")
        value: float | bool
        if metric in BOOLEAN_METRICS:
            if raw not in ("true", "false") or op not in ("==", "!="):
                raise ValueError(f"{metric} is true or false, compared with == or !=")
            value = raw == "true"
        else:
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{metric} is compared with a number, not {raw!r}") from None
        return cls(metric, op, value, " ".join(text.split()))

    def judge(self, observed: float | bool | None) -> CheckResult:
        description = f"{self.metric}: {METRICS[self.metric]}"
        if observed is None:
            return CheckResult(
                self.text, description, "failed", f"{self.metric} was not measured (no data)"
            )
        passed = OPERATORS[self.op](observed, self.value)
        shown = str(observed).lower() if isinstance(observed, bool) else f"{observed:g}"
        message = "" if passed else f"{self.metric} was {shown}, expected {self.op} {self.raw}"
        return CheckResult(
            self.text,
            description,
            "passed" if passed else "failed",
            message,
            (f"observed {shown}",),
        )

    @property
    def raw(self) -> str:
        return str(self.value).lower() if isinstance(self.value, bool) else f"{self.value:g}"


def _valid_expectation(text: str) -> str:
    Expectation.parse(text)
    return text


ExpectationText = Annotated[str, AfterValidator(_valid_expectation)]


def _printable(text: str) -> str:
    # Printed on the console and into JUnit XML: a control character could rewrite the
    # terminal or make the XML unreadable.
    if any((ch < " " and ch not in "\t\n") or ch == "\x7f" for ch in text):
        raise ValueError("must not contain control characters")
    return text


PrintableText = Annotated[str, AfterValidator(_printable)]


class ScenarioTraffic(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int = Field(100, ge=1, le=100_000_000)
    statuses: list[int | str] | None = None
    rate: float | None = Field(None, gt=0, le=1_000_000)
    burst: int | None = Field(None, ge=1, le=500)
    duplicates: float = Field(0.0, ge=0, le=1)
    reorder: float = Field(0.0, ge=0, le=1)
    unknown: float = Field(0.0, ge=0, le=1)
    seed: int | None = None


class Scenario(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: PrintableText = Field(min_length=1, max_length=200)
    description: PrintableText = ""
    settings: dict[str, Any] = Field(default_factory=dict)
    traffic: ScenarioTraffic = ScenarioTraffic()
    expect: list[ExpectationText] = Field(default_factory=lambda: ["delivered_ratio == 1"])

    @property
    def expectations(self) -> list[Expectation]:
        return [Expectation.parse(text) for text in self.expect]

    def settings_layer(self) -> dict[str, Any]:
        """The scenario's settings, with its traffic's rate, burst and statuses folded in."""
        layer = dict(self.settings)
        if self.traffic.rate is not None:
            layer["max_rate"] = self.traffic.rate
        if self.traffic.burst is not None:
            layer["concurrency"] = self.traffic.burst
        if self.traffic.statuses is not None:
            layer["notify"] = [str(s) for s in self.traffic.statuses]
        return layer


def load_scenario(path: Path) -> Scenario:
    """A scenario file, or the installed one `scenario:NAME` names."""
    path = scenario_path(path)
    data = load_yaml(read_text_file(path, f"scenario {path}"), str(path))
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: a scenario is a table with name, settings, traffic, expect")
    check_tree(data, str(path))
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        message = describe_validation_error(exc, str(path), model=Scenario)
        raise ConfigError(_with_index(message, exc)) from None


def _with_index(message: str, exc: ValidationError) -> str:
    """Name `expect[2]` rather than `expect` when one expectation is wrong."""
    loc = exc.errors()[0]["loc"]
    if len(loc) >= 2 and loc[0] == "expect" and isinstance(loc[1], int):
        return message.replace(": expect ", f": expect[{loc[1]}] ", 1)
    return message


def observe(metric: str, m: Metrics) -> float | bool | None:
    """The value of a non-probe metric after a run."""
    latency = summarize_ms(m.latency)
    response = summarize_ms(m.response)
    values: dict[str, float | bool | None] = {
        "response_p50_ms": response["p50"],
        "response_p99_ms": response["p99"],
        "response_max_ms": response["max"],
        "achieved_rate": m.delivered / m.duration_s if m.duration_s else None,
        "queued": m.queued,
        "loop_lag_p99_ms": summarize_ms(m.loop_lag)["p99"],
        "delivered_ratio": m.delivered / m.scheduled if m.scheduled else None,
        "delivered": m.delivered,
        "exhausted": m.exhausted,
        "cancelled": m.cancelled,
        "scheduled": m.scheduled,
        "failure_rate": (
            (m.attempts_total - m.delivered) / m.attempts_total if m.attempts_total else None
        ),
        "attempts_per_notification": m.attempts_total / m.scheduled if m.scheduled else None,
        "p50_ms": latency["p50"],
        "p90_ms": latency["p90"],
        "p99_ms": latency["p99"],
        "max_ms": latency["max"],
        "peak_in_flight": m.peak_in_flight,
        "min_limit": m.min_limit,
        "duplicates_accepted": m.duplicates_delivered == m.duplicates_sent,
        "reordered_accepted": m.reordered_delivered == m.reordered_sent,
        "unknown_accepted": m.unknown_delivered == m.unknown_sent,
    }
    return values.get(metric)


async def judge(scenario: Scenario, m: Metrics, settings: Settings) -> list[CheckResult]:
    """A verdict per expectation; probes (like bad_credentials_rejected) send what they need."""
    verdicts = []
    for expectation in scenario.expectations:
        if expectation.metric == "bad_credentials_rejected":
            probe = await rejects_bad_credentials.run(CheckContext(settings))
            verdict = expectation.judge(probe.status == "passed")
            if probe.status != "passed":
                reason = probe.message or "not applicable"
                verdict = CheckResult(
                    verdict.name,
                    verdict.description,
                    verdict.status,
                    f"{verdict.message}: {reason}" if verdict.message else "",
                    probe.evidence,
                    probe.duration_s,
                )
            verdicts.append(verdict)
        else:
            verdicts.append(expectation.judge(observe(expectation.metric, m)))
    return verdicts
