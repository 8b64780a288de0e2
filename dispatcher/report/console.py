"""The report as a person reads it on the console: a summary table, rates and latencies, and
one line per verdict with its evidence."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from ..checks.result import tally
from .junit import Case
from .model import LoadReport, PlatformReport, Requests, RunReport, Summary, Summary4


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def summary_table(report: RunReport | LoadReport | PlatformReport) -> Table:
    n, a = report.notifications, report.attempts
    lat: Summary | Summary4 = (
        report.latency_ms.service if isinstance(report, LoadReport) else report.latency_ms
    )
    table = Table(title="summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rows: Sequence[tuple[str, str]] = [
        ("notifications", f"{n.scheduled} scheduled"),
        ("delivered", str(n.delivered)),
        ("exhausted", str(n.exhausted)),
        ("cancelled", str(n.cancelled)),
        ("attempts", f"{a.total} (max {a.max_per_notification} for one notification)"),
        ("requests", _requests_row(report.requests)),
        ("by outcome", ", ".join(f"{k}: {v}" for k, v in a.by_outcome.items()) or "-"),
        ("injected", (
            f"{report.duplicates_sent} duplicates, {report.reordered_sent} reordered, "
            f"{report.unknown_sent} unknown"
        )),
        ("latency", f"p50 {_ms(lat.p50)}  p90 {_ms(lat.p90)}  p99 {_ms(lat.p99)}  "
                    f"max {_ms(lat.max)}"),
        ("in flight", (
            f"peak {report.peak_in_flight}, cap {report.throttle.cap}, "
            f"lowest limit {report.throttle.min_limit}"
        )),
        ("duration", f"{report.duration_s:.2f} s"),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, value)
    return table


def _requests_row(requests: Requests) -> str:
    notes = []
    if requests.resent_after_401:
        notes.append(f"{requests.resent_after_401} re-sent after a 401 renewed the token")
    if requests.resent_on_closed_connection:
        notes.append(
            f"{requests.resent_on_closed_connection} re-sent because a kept-alive "
            "connection had been closed"
        )
    return f"{requests.sent} sent" + (f" ({'; '.join(notes)})" if notes else "")


def print_load_summary(console: Console, report: LoadReport) -> None:
    console.print(summary_table(report))
    rate, sender = report.rate, report.sender

    def row(name: str, values: Summary) -> str:
        cells = "  ".join(
            f"{k.replace('_', '.')} {'-' if v is None else f'{v:.1f}'}"
            for k, v in values.model_dump().items()
        )
        return f"{name:<9} {cells} ms"

    target = rate.target_per_s
    console.print(
        f"rate      target {'max' if target is None else f'{target:.1f}/s'}, attempted "
        f"{(rate.attempted_per_s or 0):.1f}/s, achieved {(rate.achieved_per_s or 0):.1f}/s, "
        f"{rate.queued} queued, {rate.dropped} dropped"
    )
    console.print(row("service", report.latency_ms.service))
    console.print(row("response", report.latency_ms.response))
    lag = sender.loop_lag_ms
    console.print(f"sender    loop lag p99 {(lag.p99 or 0):.1f} ms, workers {report.workers}")
    if sender.message:
        console.print(f"[yellow]{sender.message}[/yellow]", markup=True)


_MARKS = {
    "passed": "[green]PASS[/green]",
    "failed": "[red]FAIL[/red]",
    "skipped": "[yellow]SKIP[/yellow]",
}


def print_verdicts(console: Console, results: Sequence[Case]) -> None:
    for r in results:
        console.print(f"{_MARKS[r.status]} {r.name}  [dim]({r.duration_s:.2f} s)[/dim]")
        if r.status != "passed":
            console.print(f"     {r.message}", markup=False)
        if r.status == "failed":
            for line in r.evidence:
                console.print(f"     · {line}", markup=False)
    console.print(tally(r.status for r in results))


def print_outcome(
    console: Console, report: RunReport | LoadReport, verdicts: Sequence[Case] = ()
) -> None:
    """The end of a run, a load test or a merge: the summary, lost workers, shards, verdicts."""
    if isinstance(report, LoadReport):
        print_load_summary(console, report)
    else:
        console.print(summary_table(report))
    errors = Console(stderr=True, soft_wrap=True)  # where failures go, one line each
    for line in report.workers_failed or ():
        errors.print(f"[red]{line}[/red]; the report has the others' results")
    if (shards := report.shards) is not None:
        missing = ", ".join(str(i) for i in shards.missing)
        console.print(
            f"run {shards.run_id}: {len(shards.merged)} of {shards.count} shards merged"
            + (f"; [red]missing {missing}[/red]" if missing else ""), markup=bool(missing),
        )  # fmt: skip
    if verdicts:
        print_verdicts(console, verdicts)
