"""Reporters: what a person reads on the console, and what a machine reads in the JSON report.

They only read the engine's results; nothing here changes a run.
"""

from __future__ import annotations

import datetime
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from . import outfiles
from .checks.result import CheckResult
from .delivery import AttemptResult
from .engine import Outcome
from .metrics import Metrics, summarize_ms
from .payloads import Notification
from .redact import REDACTOR
from .settings import Settings, scrub, secret_values


def describe_attempt(result: AttemptResult) -> str:
    return result.outcome + (" (token renewed)" if result.reauthenticated else "")


class AttemptPrinter:
    """Observer for `send`: one line per attempt, as it happens."""

    def __init__(self, console: Console, settings: Settings) -> None:
        self.console = console
        self._secrets = secret_values(settings.auth)
        self.final: Outcome | None = None
        self.attempts = 0

    def on_attempt(
        self, note: Notification, result: AttemptResult, retry_in_s: float | None
    ) -> None:
        ok = "green" if result.ok else "red"
        if result.ok:
            then = "delivered"
        elif retry_in_s is None:
            then = "no attempts left"
        else:
            then = f"retry in {retry_in_s:.2f} s"
        detail = scrub(result.detail, self._secrets)
        self.console.print(
            f"attempt {result.number:>2}  [{ok}]{describe_attempt(result):<10}[/{ok}] "
            f"{result.latency_s * 1000:8.1f} ms  {then}"
            + (f"  [dim]{detail}[/dim]" if detail and not result.ok else ""),
            highlight=False,
        )

    def on_final(self, note: Notification, outcome: Outcome, attempts: int) -> None:
        self.final, self.attempts = outcome, attempts


@dataclass
class Trace:
    """Observer that keeps every attempt of every notification (for small runs: demo, check)."""

    attempts: dict[int, list[AttemptResult]] = field(default_factory=dict)
    waits: dict[int, list[float | None]] = field(default_factory=dict)
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    order: list[Notification] = field(default_factory=list)

    def _slot(self, note: Notification) -> int:
        key = id(note)
        if key not in self.attempts:
            self.attempts[key] = []
            self.waits[key] = []
            self.order.append(note)
        return key

    def on_attempt(
        self, note: Notification, result: AttemptResult, retry_in_s: float | None
    ) -> None:
        key = self._slot(note)
        self.attempts[key].append(result)
        self.waits[key].append(retry_in_s)

    def on_final(self, note: Notification, outcome: Outcome, attempts: int) -> None:
        self.outcomes[self._slot(note)] = outcome


def run_report(metrics: Metrics, settings: Settings, **extra: Any) -> dict[str, Any]:
    """The JSON report of a run; every secret in the settings is `***`."""
    m = metrics
    latency = summarize_ms(m.latency)
    return {
        "notifications": {
            "scheduled": m.scheduled,
            "delivered": m.delivered,
            "exhausted": m.exhausted,
            "cancelled": m.cancelled,
        },
        "attempts": {
            "total": m.attempts_total,
            "max_per_notification": m.max_attempts_per_notification,
            "by_outcome": dict(sorted(m.by_outcome.items())),
        },
        # Attempts are what the platform's rules count (max_attempts); requests are what the
        # receiver got: an attempt re-sends once after a 401 that renewed an OAuth2 token.
        "requests": {
            "sent": m.requests_total,
            "resent_after_401": m.resent_after_401,
            "resent_on_closed_connection": m.resent_stale,
        },
        "duplicates_sent": m.duplicates_sent,
        "reordered_sent": m.reordered_sent,
        "unknown_sent": m.unknown_sent,
        "latency_ms": {k: latency[k] for k in ("p50", "p90", "p99", "max")},
        "throttle": {
            "cap": m.cap,
            "min_limit": m.min_limit,
            "final_limit": m.limit,
            "timeline": [
                {
                    "t_s": p.t_s,
                    "limit": p.limit,
                    "failure_rate": round(p.failure_rate, 4),
                    "attempts": p.attempts,
                }
                for p in m.timeline
            ],
        },
        "peak_in_flight": m.peak_in_flight,
        "duration_s": round(m.duration_s, 3),
        "settings": settings.redacted(),
        **extra,
    }


def write_json(path: Path, report: dict[str, Any]) -> None:
    write_text(path, json.dumps(REDACTOR.scrub_tree(report), indent=2) + "\n")


def summary_table(report: dict[str, Any]) -> Table:
    n, a, lat = report["notifications"], report["attempts"], report["latency_ms"]
    lat = lat.get("service", lat)  # a load report has service and response times
    table = Table(title="summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} ms"

    rows: Sequence[tuple[str, str]] = [
        ("notifications", f"{n['scheduled']} scheduled"),
        ("delivered", str(n["delivered"])),
        ("exhausted", str(n["exhausted"])),
        ("cancelled", str(n["cancelled"])),
        ("attempts", f"{a['total']} (max {a['max_per_notification']} for one notification)"),
        ("requests", _requests_row(report)),
        ("by outcome", ", ".join(f"{k}: {v}" for k, v in a["by_outcome"].items()) or "-"),
        ("injected", (
            f"{report['duplicates_sent']} duplicates, {report['reordered_sent']} reordered, "
            f"{report['unknown_sent']} unknown"
        )),
        ("latency", f"p50 {ms(lat['p50'])}  p90 {ms(lat['p90'])}  p99 {ms(lat['p99'])}  "
                    f"max {ms(lat['max'])}"),
        ("in flight", (
            f"peak {report['peak_in_flight']}, cap {report['throttle']['cap']}, "
            f"lowest limit {report['throttle']['min_limit']}"
        )),
        ("duration", f"{report['duration_s']:.2f} s"),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, value)
    return table


def _requests_row(report: dict[str, Any]) -> str:
    requests = report.get("requests") or {}
    notes = []
    if requests.get("resent_after_401"):
        notes.append(f"{requests['resent_after_401']} re-sent after a 401 renewed the token")
    if requests.get("resent_on_closed_connection"):
        notes.append(
            f"{requests['resent_on_closed_connection']} re-sent because a kept-alive "
            "connection had been closed"
        )
    return f"{requests.get('sent', 0)} sent" + (f" ({'; '.join(notes)})" if notes else "")


def junit_xml(suite: str, results: Sequence[CheckResult], *, duration_s: float) -> str:
    """A JUnit XML document: one testcase per check or expectation, evidence in the body."""
    failures = sum(r.status == "failed" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    root = ET.Element("testsuites", name="webhook-sim")
    node = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{duration_s:.3f}",
        timestamp=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
    )
    for result in results:
        case = ET.SubElement(
            node,
            "testcase",
            classname=suite,
            name=result.name,
            time=f"{result.duration_s:.3f}",
        )
        if result.status == "failed":
            failure = ET.SubElement(
                case, "failure", message=result.message, type="ContractViolation"
            )
            failure.text = "\n".join((result.description, *result.evidence))
        elif result.status == "skipped":
            ET.SubElement(case, "skipped", message=result.message)
        else:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join((result.description, *result.evidence))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def writable(path: Path, flag: str) -> Path:
    """Check before a run that its report can be written, so a typo costs no run."""
    return outfiles.check_target(path, flag)


def write_text(path: Path, text: str) -> None:
    """Write a report where the user asked (see `dispatcher.outfiles`), every secret masked."""
    outfiles.write(path, REDACTOR.scrub(text))


def print_verdicts(console: Console, results: Sequence[CheckResult]) -> None:
    marks = {
        "passed": "[green]PASS[/green]",
        "failed": "[red]FAIL[/red]",
        "skipped": "[yellow]SKIP[/yellow]",
    }
    for r in results:
        console.print(f"{marks[r.status]} {r.name}  [dim]({r.duration_s:.2f} s)[/dim]")
        if r.status != "passed":
            console.print(f"     {r.message}", markup=False)
        if r.status == "failed":
            for line in r.evidence:
                console.print(f"     · {line}", markup=False)
    counts = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "skipped")}
    console.print(
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    )
