"""`webhook-sim report NEW.json --compare BASE.json`: a saved report against a baseline, metric
by metric, each judged worse or not within a tolerance (CI's regression gate).

The rules (`compare`), per metric, with `t` the tolerance as a fraction (10% is 0.1):

- higher is worse (latency p50/p90/p99, failure rate): worse when new > base * (1 + t);
- lower is worse (rate, throttle minimum limit): worse when new < base * (1 - t);
- base 0: the change is not a percentage (shown as -); a higher-is-worse metric is worse when
  new > 0 (any failure against a baseline of none), a lower-is-worse one is never worse;
- either value missing (null: nothing was measured, no attempt made): not compared, not worse.

Load reports compare the achieved rate (deliveries per second), the response time (from the
instant each attempt was due: coordinated omission corrected), the failure rate and the
throttle's lowest limit; run reports the same without a rate, and the service latency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..errors import ConfigError
from .model import AnyReport, LoadReport, RunReport, Summary, Summary4
from .outputs import Outputs
from .read import read_report

DEFAULT_TOLERANCE = "10%"


@dataclass(frozen=True)
class Row:
    name: str
    base: float | None
    new: float | None
    change_pct: float | None  # (new - base) / base * 100; None when base is 0 or a value missing
    worse: bool
    higher_is_worse: bool
    unit: str = ""


@dataclass(frozen=True)
class Comparison:
    kind: str
    tolerance: float
    rows: tuple[Row, ...]

    @property
    def worse(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if row.worse)


def parse_tolerance(text: str, flag: str = "--tolerance") -> float:
    """`10%` or `0.1` as the fraction 0.1; anything else is a one-line ConfigError."""
    allowed = "a percentage (10%) or a fraction from 0 to 1 (0.1)"
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ConfigError(f"{flag} = {text!r}: not a number: {allowed}") from None
    if not math.isfinite(value) or value < 0 or (not raw.endswith("%") and value > 1):
        raise ConfigError(f"{flag} = {text!r}: out of range: {allowed}")
    return value


def judge(name: str, base: float | None, new: float | None, tolerance: float, *,
          higher_is_worse: bool, unit: str = "") -> Row:  # fmt: skip
    """One metric by the rules above."""
    if base is None or new is None:
        return Row(name, base, new, None, False, higher_is_worse, unit)
    change = (new - base) / base * 100 if base else None
    if higher_is_worse:
        worse = new > base * (1 + tolerance) if base else new > 0
    else:
        worse = new < base * (1 - tolerance) if base else False
    return Row(name, base, new, change, worse, higher_is_worse, unit)


def _failure_rate(report: LoadReport | RunReport) -> float | None:
    """Failed attempts / attempts, as the failure_rate threshold counts them."""
    total = report.attempts.total
    return (total - report.notifications.delivered) / total if total else None


def _values(report: LoadReport | RunReport) -> list[tuple[str, float | None, bool, str]]:
    """(name, value, higher is worse, unit) of each metric compared."""
    rows: list[tuple[str, float | None, bool, str]] = []
    latency: Summary | Summary4
    if isinstance(report, LoadReport):
        rows.append(("rate (deliveries/s)", report.rate.achieved_per_s, False, "/s"))
        latency, what = report.latency_ms.response, "response"
    else:
        latency, what = report.latency_ms, "latency"
    rows += [
        (f"{what} p50", latency.p50, True, " ms"),
        (f"{what} p90", latency.p90, True, " ms"),
        (f"{what} p99", latency.p99, True, " ms"),
        ("failure rate", _failure_rate(report), True, ""),
        ("throttle min limit", float(report.throttle.min_limit), False, ""),
    ]
    return rows


def compare(
    new: LoadReport | RunReport, base: LoadReport | RunReport, tolerance: float
) -> Comparison:
    """`new` against `base`, metric by metric (both of one kind: ConfigError otherwise)."""
    if new.kind != base.kind:
        raise ConfigError(
            f"a {new.kind!r} report cannot be compared with a {base.kind!r} one: "
            "compare reports of one kind"
        )
    rows = tuple(
        judge(name, b, n, tolerance, higher_is_worse=higher, unit=unit)
        for (name, n, higher, unit), (_, b, _, _) in zip(_values(new), _values(base), strict=True)
    )
    return Comparison(new.kind, tolerance, rows)


def _cell(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if not unit:  # a ratio or a count
        return f"{value:.4f}" if value != int(value) else f"{value:g}"
    return f"{value:.1f}{unit}"


def cells(row: Row) -> tuple[str, str, str, str, str]:
    """A row as the console and the HTML page show it: metric, base, new, change, worse?"""
    change = "-" if row.change_pct is None else f"{row.change_pct:+.1f}%"
    verdict = "n/a" if row.base is None or row.new is None else "WORSE" if row.worse else "no"
    return row.name, _cell(row.base, row.unit), _cell(row.new, row.unit), change, verdict


def comparison_table(comparison: Comparison, new: str, base: str) -> Table:
    tolerance = f"{comparison.tolerance * 100:g}%"
    table = Table(title=f"{new} against {base} (tolerance {tolerance})", title_justify="left")
    for column in ("metric", "base", "new", "change", "worse?"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in comparison.rows:
        *shown, verdict = cells(row)
        table.add_row(*shown, "[red]WORSE[/red]" if verdict == "WORSE" else verdict)
    return table


def print_comparison(console: Console, comparison: Comparison, new: str, base: str) -> None:
    console.print(comparison_table(comparison, new, base))
    worse = comparison.worse
    if worse:
        names = ", ".join(row.name for row in worse)
        console.print(f"[red]worse than the baseline[/red] beyond the tolerance: {names} (exit 1)")
    else:
        console.print("not worse than the baseline beyond the tolerance")


def _comparable(path: Path, flag: str = "--compare") -> LoadReport | RunReport:
    report: AnyReport = read_report(path)
    if not isinstance(report, LoadReport | RunReport):
        raise ConfigError(f"{path}: a {report.kind!r} report: {flag} takes load or run reports")
    return report


def report_command(out: Outputs, source: Path, base: Path | None, tolerance: str) -> int:
    """`webhook-sim report`: the HTML page (--html) and/or the comparison (--compare).
    Exit 0 done (none worse), 1 some metric worse, 2 bad input."""
    html = out.paths.get("html")
    if html is None and base is None:
        raise ConfigError("report: nothing to do: give --html OUT, --compare BASE, or both")
    fraction = parse_tolerance(tolerance)
    report = _comparable(source, "--html" if base is None else "--compare")
    comparison = baseline = None
    if base is not None:  # read before any file is written: a bad one costs nothing
        baseline = _comparable(base)
        comparison = compare(report, baseline, fraction)
    if html is not None:
        from ..html import render

        # With --compare, the charts draw the baseline's series too, and the page the verdict.
        out.save("html", render(report, baseline, comparison), "HTML report")
    if comparison is None:
        return 0
    print_comparison(out.console, comparison, str(source), str(base))
    return 1 if comparison.worse else 0
