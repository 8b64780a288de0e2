"""The report's charts: its figures, drawn from a `LoadReport` with `svg`'s primitives.

Time runs in seconds from the start; each timeline entry covers [t, t + 1) and is drawn at its
middle. A last second the run covered only in part is drawn at its rate (count / the time it
covered), hollow and dashed, over a hatched band: not as a fall to zero.
"""

from __future__ import annotations

import math

from ..report.model import LoadReport, Second
from .kinds import kinds_stack
from .svg import FAILED, GREY, OK, PALETTE, Panel, Rule, Series, Stack, XAxis, figure, wants_log

TIME = "time since the start (s)"


def _partial(report: LoadReport) -> float | None:
    """How much of its second the timeline's last entry covers, when not all of it."""
    if not report.timeline:
        return None
    covered = report.duration_s - report.timeline[-1].t
    return covered if 0.0 < covered < 0.999 else None


def _mid(report: LoadReport, s: Second) -> float:
    covered = _partial(report) if s is report.timeline[-1] else None
    return s.t + (covered if covered is not None else 1.0) / 2


def _x_axis(report: LoadReport) -> XAxis:
    timeline, covered = report.timeline, _partial(report)
    end = timeline[-1].t + (covered or 1.0) if timeline else report.duration_s
    hi = max(end, report.duration_s, 1.0)
    columns = []
    for s in timeline:
        width = covered if covered is not None and s is timeline[-1] else 1.0
        columns.append((float(s.t), s.t + width, _second_tip(s, width)))
    shade = None
    if covered is not None:
        t = timeline[-1].t
        shade = (float(t), t + covered, f"partial second ({covered:.2f} s), drawn at its rate")
    return XAxis(hi=hi, label=TIME, shade=shade, columns=columns)


def _second_tip(s: Second, width: float) -> str:
    span = f"{s.t}–{s.t + 1} s" if width >= 1 else f"{s.t}–{s.t + width:.2f} s (partial second)"
    lines = [span, f"arrivals {s.arrivals}, deliveries {s.deliveries}",
             f"attempts {s.attempts}, failed {s.failures}, late starts {s.late_starts}",
             f"in-flight limit {s.limit}"]  # fmt: skip
    if s.peak_in_flight is not None:
        lines[-1] += f", peak in flight {s.peak_in_flight}"
    times = [(k, getattr(s, f"{k}_ms")) for k in ("p50", "p90", "p99", "max")]
    if any(v is not None for _, v in times):
        lines.append("response " + "  ".join(f"{k} {v:.1f} ms" for k, v in times if v is not None))
    return "\n".join(lines)


def _per_second(report: LoadReport, name: str, key: str, colour: str) -> Series:
    """A count per second as a rate: the partial last second divided by the time it covers."""
    covered, points, tips = _partial(report), [], []
    for s in report.timeline:
        value = float(getattr(s, key))
        if covered is not None and s is report.timeline[-1]:
            tips.append(f"{name}: {value:g} in the last {covered:.2f} s = {value / covered:.1f}/s")
            value /= covered
        else:
            tips.append(f"{name}: {value:g} in {s.t}–{s.t + 1} s")
        points.append((_mid(report, s), value))
    return Series(name, points, colour, tips, partial=len(points) - 1 if covered else None)


def _target(report: LoadReport) -> Series | None:
    if not report.rate.profile:
        return None
    points = [(p[0], p[1]) for p in report.rate.profile if len(p) == 2]
    return Series("target rate", points, GREY, dashed=True) if points else None


def _clipped(series: Series, hi: float) -> Series | None:
    """A baseline's series cut at this report's end: it must not run off the plot."""
    kept = [i for i, (x, _) in enumerate(series.points) if x <= hi]
    if not kept:
        return None
    tips = [series.tips[i] for i in kept] if series.tips else ()
    partial = series.partial if series.partial in kept else None
    points = [series.points[i] for i in kept]
    return Series(series.name, points, series.colour, tips, dashed=True, partial=partial)


def rate_figure(report: LoadReport, baseline: LoadReport | None = None) -> str:
    x = _x_axis(report)
    series = [_per_second(report, "arrivals", "arrivals", PALETTE[0]),
              _per_second(report, "deliveries", "deliveries", PALETTE[2])]  # fmt: skip
    if (target := _target(report)) is not None:
        series.insert(0, target)
    if baseline is not None and baseline.timeline:
        drawn = _per_second(baseline, "baseline deliveries", "deliveries", PALETTE[2])
        if (clipped := _clipped(drawn, x.hi)) is not None:
            series.append(clipped)
    covered = _partial(report)
    partial = len(report.timeline) - 1 if covered else None
    widths = [covered if covered is not None and s is report.timeline[-1] else 1.0
              for s in report.timeline]  # fmt: skip
    stack = kinds_stack(report.timeline, widths, partial)
    note = "by status class and error kind; the whole run's: see Outcomes"
    if stack is None:  # a report written before kinds were counted per second
        columns = []
        for s, per in zip(report.timeline, widths, strict=True):
            ok, failed = (s.attempts - s.failures) / per, s.failures / per
            tip = f"{s.t} s: {ok:.1f} answered 2xx, {failed:.1f} failed (attempts per second)"
            columns.append((float(s.t), s.t + per, (ok, failed), tip))
        stack = Stack(("answered 2xx", "failed"), (OK, FAILED), columns, partial=partial)
        note = "each status and error kind, whole run: see Outcomes"
    return figure("rate", "Arrivals, deliveries and attempt outcomes per second", [
        Panel("Arrivals vs deliveries", "per second", series),
        Panel("Attempt outcomes by kind (stacked)", "attempts per second", stack=stack,
              note=note),
    ], x)  # fmt: skip


PERCENTILE_COLOURS = ("#0072B2", "#009E73", "#E69F00", "#D55E00")  # p50, p90, p99, max


def _percentile_series(report: LoadReport, key: str, colour: str, name: str) -> Series | None:
    points, tips = [], []
    for s in report.timeline:
        if (v := getattr(s, f"{key}_ms")) is not None:
            points.append((_mid(report, s), float(v)))
            tips.append(f"{name} {v:.1f} ms in {s.t}–{s.t + 1} s")
    if not points:
        return None
    partial = len(points) - 1 if _partial(report) and report.timeline[-1].p99_ms else None
    return Series(name, points, colour, tips, partial=partial)


BASELINE_PERCENTILES = ("p50", "p99")  # the baseline's, dashed: all four would be a thicket


def latency_figure(report: LoadReport, baseline: LoadReport | None = None) -> str:
    x = _x_axis(report)
    series = []
    for key, colour in zip(("p50", "p90", "p99", "max"), PERCENTILE_COLOURS, strict=True):
        if (line := _percentile_series(report, key, colour, key)) is not None:
            series.append(line)
    for key, colour in zip(("p50", "p90", "p99", "max"), PERCENTILE_COLOURS, strict=True):
        if baseline is not None and key in BASELINE_PERCENTILES:
            line = _percentile_series(baseline, key, colour, f"baseline {key}")
            if line is not None and (clipped := _clipped(line, x.hi)) is not None:
                series.append(clipped)
    log = wants_log([y for s in series for _, y in s.points])
    unit = "response time, ms" + (" (log)" if log else "")
    return figure("latency", "Response time over time", [
        Panel("Response time per second (from the intended start)", unit, series, log=log),
    ], x)  # fmt: skip


NINES = [(0.0, "0%"), (1.0, "90%"), (2.0, "99%"), (3.0, "99.9%"), (4.0, "99.99%"),
         (5.0, "99.999%")]  # fmt: skip
MAX_X = 5.6  # where the maximum sits, right of 99.999%


def _nines(percentile: float) -> float:
    """The x of a percentile: 0 at 0%, 1 at 90%, 2 at 99%, ..., the maximum at MAX_X."""
    if percentile >= 100:
        return MAX_X
    return min(5.0, -math.log10(max(1 - percentile / 100, 1e-9)))


def _spectrum_rows(report: LoadReport) -> list[tuple[float, float | None, float | None]]:
    latency = report.latency_ms
    if latency.spectrum:
        return [(p.percentile, p.service_ms, p.response_ms) for p in latency.spectrum]
    # A report written before the spectrum was: its summary percentiles.
    pct = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p99_9", 99.9),
           ("max", 100.0))  # fmt: skip
    return [(p, getattr(latency.service, k), getattr(latency.response, k)) for k, p in pct]


def spectrum_figure(report: LoadReport, baseline: LoadReport | None = None) -> str:
    series = []
    drawn = [(report, "", False)] + ([(baseline, "baseline ", True)] if baseline else [])
    for source, prefix, dashed in drawn:
        rows = _spectrum_rows(source)
        for i, (what, index) in enumerate((("service time", 1), ("response time", 2))):
            name, points, tips = prefix + what, [], []
            for row in rows:
                value = row[index]
                if value is not None:
                    p = float(row[0])
                    points.append((_nines(p), float(value)))
                    where = "max" if p >= 100 else f"{p:.6g}%"
                    tips.append(f"{name} {where}: {value:.2f} ms")
            if points:
                series.append(Series(name, points, PALETTE[i * 3], tips, dashed=dashed,
                                     markers=not dashed))  # fmt: skip
    log = wants_log([y for s in series for _, y in s.points])
    unit = "latency, ms" + (" (log)" if log else "")
    x = XAxis(hi=MAX_X, label="percentile ('nines': each step right is 10× rarer)",
              ticks=[*NINES, (MAX_X, "max")])  # fmt: skip
    return figure("spectrum", "Latency distribution: HDR percentile spectrum", [
        Panel("Latency by percentile: service vs response time", unit, series, log=log),
    ], x)  # fmt: skip


def _in_flight(report: LoadReport, hi: float) -> Series | None:
    """Each second's peak in flight, held over the second; None when not recorded."""
    timeline = report.timeline
    if not timeline or any(s.peak_in_flight is None for s in timeline):
        return None
    points = [(float(s.t), float(s.peak_in_flight or 0)) for s in timeline]
    points.append((min(hi, timeline[-1].t + (_partial(report) or 1.0)), points[-1][1]))
    return Series("peak in flight", points, PALETTE[3], step=True)


def throttle_figure(report: LoadReport) -> str:
    x = _x_axis(report)
    throttle, settings = report.throttle, report.settings.get("throttle") or {}
    decided, rates, tips = [], [], []
    previous = throttle.cap
    for p in throttle.timeline:
        change = "lowered" if p.limit < previous else "raised" if p.limit > previous else "kept"
        tips.append(f"{p.t_s:.2f} s: {p.failure_rate:.1%} of {p.attempts} attempts failed "
                    f"→ limit {change}: {p.limit}")  # fmt: skip
        decided.append((p.t_s, float(p.limit)))
        rates.append((p.t_s, p.failure_rate * 100))
        previous = p.limit
    rules = [Rule("cap", throttle.cap)]
    peaks = _in_flight(report, x.hi)
    if peaks is None:  # a report written before in flight was recorded per second
        rules.append(Rule("peak in flight", report.peak_in_flight, PALETTE[3]))
    if report.workers == 1 and report.shards is None:
        # One throttle: its limit is exactly the cap, then each decision's, held until the next.
        steps = [(0.0, float(throttle.cap)), *decided, (x.hi, float(throttle.final_limit))]
        lines = [Series("in-flight limit", steps, PALETTE[0], step=True),
                 Series("throttle decision", decided, PALETTE[1], tips, dots=True)]  # fmt: skip
    else:  # a throttle per worker or shard: the limits' sum, second by second
        summed = [(_mid(report, s), float(s.limit)) for s in report.timeline]
        lines = [Series("in-flight limit (sum)", summed, PALETTE[0], step=True)]
    note = "each second's peak; the whole run's: " + str(report.peak_in_flight)
    if peaks is None:
        note = "in flight second by second is not recorded: its peak is"
    elif report.workers > 1 or report.shards is not None:
        note = "the senders' peaks added up: an upper bound"
    first = Panel("In flight per second against the in-flight limit", "requests in flight",
                  [*lines, *([peaks] if peaks else [])], rules=rules, note=note)  # fmt: skip
    threshold = settings.get("threshold") if isinstance(settings, dict) else None
    enabled = not isinstance(settings, dict) or settings.get("enabled", True)
    second = Panel("Throttle decisions: failed share of each window", "% of attempts failed",
                   [Series("window's failure rate", rates, FAILED, tips, dots=True)],
                   rules=[Rule("threshold", float(threshold) * 100)] if threshold else [],
                   note="" if enabled else "the throttle was disabled")  # fmt: skip
    return figure("throttle", "The throttle: limit, in flight and decisions", [first, second], x)
