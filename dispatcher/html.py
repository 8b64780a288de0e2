"""A load (or run) report as one self-contained HTML page: run metadata and a verdict,
hand-written SVG charts (`dispatcher.htmlcharts`), tables; nothing fetched from anywhere. Given
a baseline report, the charts draw its series too, dashed.

The page's Content-Security-Policy forbids every request (`default-src 'none'`): opened from
a file or a mail, it stays offline. Its one inline script only records, into `<body data-*>`,
errors and blocked requests, how many data marks each chart drew and how many rows each table
shows (what the browser test reads). The report's JSON is embedded too (`<script
type="application/json" id="report">`), so the page is both the picture and the data.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .htmlcharts import latency_figure, rate_figure, spectrum_figure, throttle_figure
from .htmlcharts.runview import as_load
from .htmlcharts.svg import number as fmt
from .report.model import LoadReport, RunReport, as_json

if TYPE_CHECKING:
    from .report.compare import Comparison


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _e(value: Any) -> str:
    return html.escape(str(value))


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _url(value: Any) -> str:
    """The target URL without user information (its secrets are *** already)."""
    parts = urlsplit(str(value or ""))
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


def _date(value: str | None) -> str:
    return "-" if not value else value.replace("T", " ").replace("Z", " UTC")


def _rate(report: LoadReport) -> str:
    rate = report.rate
    if rate.model == "closed":
        return "closed model: as fast as the cap allows"
    if rate.profile and len({p[1] for p in rate.profile}) > 1:
        return "ramp " + ", ".join(f"{fmt(p[0])}s:{fmt(p[1])}/s" for p in rate.profile)
    return f"{fmt(rate.target_per_s or 0)}/s for {fmt(rate.duration_s)} s"


def _made(report: LoadReport) -> list[tuple[str, str]]:
    """The version that built the report, and the run's date: a merged report's shared start,
    else when the report was built; a report without them says what rendered the page, when."""
    from . import __version__

    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    start = report.shards.start_at if report.shards else None
    return [
        ("webhook-sim", report.tool_version or f"- (page rendered by {__version__})"),
        ("date", _date(start or report.generated_at) if start or report.generated_at
         else f"- (page rendered {_date(now)})"),
    ]  # fmt: skip


def metadata(report: LoadReport) -> list[tuple[str, str]]:
    settings, shards = report.settings, report.shards
    auth = settings.get("auth") if isinstance(settings.get("auth"), dict) else {}
    split = f", {len(shards.merged)} of {shards.count} shards" if shards else ""
    return [
        *_made(report),
        ("duration", f"{report.duration_s:.2f} s (arrivals {report.rate.arrival_window_s:g} s)"),
        ("target", _url(settings.get("url"))),
        ("flow", report.traffic.flow),
        ("auth", str((auth or {}).get("type", "-"))),
        ("cap", f"{report.throttle.cap} in flight"),
        ("rate", _rate(report)),
        ("workers", f"{report.workers}{split}"),
        ("seed", "-" if report.traffic.seed is None else str(report.traffic.seed)),
    ]  # fmt: skip


def verdict(
    report: LoadReport, run: RunReport | None = None, comparison: Comparison | None = None
) -> str:
    """The page's one-line verdict; `run`: the run report `report` was made from; `comparison`:
    `report --compare`'s. FAIL when a threshold (a run: a notification or the scenario) failed
    or a metric is worse than the baseline, ATTENTION when only something else needs a look."""
    parts: list[tuple[bool, str]] = []
    thresholds = report.thresholds or []
    failures = sum(t.status == "failed" for t in thresholds)
    n = report.notifications
    if run is not None:
        parts.append((n.delivered == n.scheduled,
                      f"{n.delivered} of {n.scheduled} notifications delivered"))  # fmt: skip
        if run.scenario is not None:
            ok = run.scenario.passed
            parts.append((ok, f"scenario {run.scenario.name} {'passed' if ok else 'failed'}"))
        failures = sum(not good for good, _ in parts)
    elif thresholds:
        parts.append((not failures, f"{len(thresholds) - failures} of {len(thresholds)} "
                                    "thresholds passed"))  # fmt: skip
    else:
        parts.append((True, "no thresholds set"))
    sender = report.sender
    if run is None:  # a run does not judge its sender
        parts.append((not sender.saturated,
                      "sender saturated: the figures may be webhook-sim's limit, not the "
                      "receiver's" if sender.saturated else "sender kept up"))  # fmt: skip
    parts.append((not sender.throttled, f"throttled (the limit fell to {report.throttle.min_limit})"
                  if sender.throttled else "not throttled"))  # fmt: skip
    if report.interrupted:
        parts.append((False, f"interrupted by {report.interrupted}"))
    if report.workers_failed:
        parts.append((False, f"workers failed: {', '.join(report.workers_failed)}"))
    if comparison is not None:
        tolerance = f"{comparison.tolerance * 100:g}%"
        worse = ", ".join(row.name for row in comparison.worse)
        failures += bool(worse)
        parts.append((not worse, f"WORSE than the baseline beyond the {tolerance} tolerance: "
                      f"{worse}" if worse else f"within {tolerance} of the baseline"))  # fmt: skip
    ok = all(good for good, _ in parts)
    spans = "".join(f'<span class="{"good" if good else "bad"}">{_e(text)}</span>'
                    for good, text in parts)  # fmt: skip
    head = "PASS" if ok else "ATTENTION" if not failures else "FAIL"
    return f'<p class="verdict {"good" if ok else "bad"}"><b>{head}</b>{spans}</p>'


def against(base: LoadReport, comparison: Comparison | None) -> str:
    """With a baseline: what the dashed lines are, and the metrics side by side."""
    hint = ('<p class="hint">Dashed lines marked "baseline" are the baseline report\'s '
            f"(generated {_e(_date(base.generated_at))}).</p>")  # fmt: skip
    if comparison is None:
        return hint
    from .report.compare import cells

    tolerance = f"{comparison.tolerance * 100:g}%"
    rows = [cells(row) for row in comparison.rows]
    table = _table(("metric", "baseline", "new", "change", "worse?"), rows, "comparison")
    return (f"<h2>Against the baseline (tolerance {tolerance})</h2>"
            + table.replace("<td>WORSE</td>", '<td class="bad">WORSE</td>') + hint)  # fmt: skip


def _outcome_class(name: str) -> str:
    return f"{name[0]}xx" if name.isdigit() and len(name) == 3 else "error"


def _first_seen(report: LoadReport) -> dict[str, tuple[str, str]]:
    """Each outcome's sample: where it was first seen, and what the receiver said."""
    return {
        s.outcome: (f"{s.process_id} ({s.key}), attempt {s.attempt}, at {s.t_s:g} s",
                    s.excerpt or "(empty body)")
        for s in report.samples or []
    }  # fmt: skip


def slowest_table(report: LoadReport) -> str:
    if not report.slowest:
        return ""
    rows = [(_ms(s.service_ms), _ms(s.response_ms), s.process_id, s.key, s.attempt, s.outcome,
             f"{s.t_s:g} s", s.final or "not yet")
            for s in report.slowest]  # fmt: skip
    head = ("service time", "response time", "process", "notification", "attempt", "status",
            "ended at", "notification's outcome")  # fmt: skip
    return ("<h2>Slowest attempts</h2><p class=\"hint\">By service time (request sent to answer "
            "read: the receiver's own time), answered attempts only; the response time adds "
            "the wait from the instant each was due.</p>"
            + _table(head, rows, "slowest"))  # fmt: skip


def tables(report: LoadReport, *, run: bool = False) -> str:
    """The page's tables; `run`: a run's page, without what only a load test measures."""
    out = []
    if report.thresholds:
        rows = [(t.name, t.status, "; ".join(t.evidence) or t.message, t.description)
                for t in report.thresholds]  # fmt: skip
        out.append("<h2>Thresholds</h2>" + _table(("threshold", "result", "observed", "meaning"),
                                                  rows, "thresholds"))  # fmt: skip
    total = report.attempts.total or 1
    outcomes = sorted(report.attempts.by_outcome.items(), key=lambda kv: -kv[1])
    seen = _first_seen(report)
    counts = [(k, _outcome_class(k), v, f"{v / total:.1%}", *seen.get(k, ("-", "-")))
              for k, v in outcomes]  # fmt: skip
    head = ("outcome", "class", "attempts", "share", "first seen", "what the receiver said")
    out.append("<h2>Outcomes</h2>" + _table(head, counts, "outcomes"))
    out.append(slowest_table(report))
    n, rate, sender = report.notifications, report.rate, report.sender
    service, response = report.latency_ms.service, report.latency_ms.response
    keys = ("p50", "p90", "p95", "p99", "p99_9", "max")
    target = f"{rate.target_per_s:.1f} /s" if rate.target_per_s else "max (closed model)"
    summary = [
        ("target rate", target),
        ("attempted rate", f"{(rate.attempted_per_s or 0):.1f} /s"),
        ("achieved rate", f"{(rate.achieved_per_s or 0):.1f} /s deliveries"),
        ("queued / dropped / late starts", f"{rate.queued} / {rate.dropped} / {rate.late_starts}"),
        ("notifications", f"{n.scheduled} scheduled, {n.delivered} delivered, "
                          f"{n.exhausted} exhausted, {n.cancelled} cancelled"),
        ("attempts", f"{report.attempts.total} (at most {report.attempts.max_per_notification} "
                     "for one notification)"),
        ("service time", "  ".join(f"{k} {_ms(getattr(service, k))}" for k in keys)),
        ("response time (from the intended start)",
         "  ".join(f"{k} {_ms(getattr(response, k))}" for k in keys)),
        ("sender loop lag", f"p50 {_ms(sender.loop_lag_ms.p50)}  p99 {_ms(sender.loop_lag_ms.p99)}"
                            f"  max {_ms(sender.loop_lag_ms.max)}"),
        ("sender saturated", f"yes: {sender.message}" if sender.saturated else "no"),
        ("in flight", f"peak {report.peak_in_flight}, cap {report.throttle.cap}, "
                      f"lowest limit {report.throttle.min_limit}"),
    ]  # fmt: skip
    if run:  # a run has no target rate, no open-model arrivals, no judged sender
        load_only = {"target rate", "attempted rate", "queued / dropped / late starts",
                     "response time (from the intended start)", "sender loop lag",
                     "sender saturated"}  # fmt: skip
        summary = [row for row in summary if row[0] not in load_only]
    out.append("<h2>Summary</h2>" + _table(("", ""), summary, "summary"))
    out.append(
        "<h2>Settings used</h2>"
        + _table(("setting", "value"), list(_flat(report.settings)), "settings")
    )
    return "".join(out)


def _flat(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict) and value:
        return [row for k, v in value.items() for row in _flat(v, f"{prefix}{k}.")]
    shown = "-" if value is None or value == {} or value == [] else value
    return [(prefix.rstrip("."), json.dumps(shown) if isinstance(shown, list) else str(shown))]


STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; padding: 0 1em; color: #222;
       max-width: 1000px; }
h1 { font-size: 1.5em; margin: 0 0 .3em; } h2 { font-size: 1.15em; margin: 1.6em 0 .4em; }
dl.meta { display: grid; grid-template-columns: repeat(auto-fill, minmax(290px, 1fr));
          gap: .15em 1.2em; margin: .5em 0 1em; }
dl.meta div { display: flex; gap: .5em; } dl.meta dt { color: #666; min-width: 6.5em; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.verdict { padding: .5em .8em; border-radius: 4px; border-left: 6px solid; }
.verdict.good { background: #eef8f2; border-color: #009E73; }
.verdict.bad { background: #fdf0ea; border-color: #D55E00; }
.verdict span { margin-left: 1em; } .verdict span::before { content: "● "; }
.verdict .good::before { color: #009E73; } .verdict .bad::before { color: #D55E00; }
svg.figure { max-width: 100%; height: auto; display: block; margin: .5em 0 1em; }
table { border-collapse: collapse; margin-bottom: 1em; width: 100%; }
th, td { text-align: left; padding: .2em .8em .2em 0; border-bottom: 1px solid #eee;
         vertical-align: top; }
thead th { border-bottom: 1px solid #aaa; } table.summary thead { display: none; }
table.settings td, table.outcomes td:last-child { font-family: ui-monospace, monospace;
  font-size: 12px; overflow-wrap: anywhere; }
table.outcomes td:last-child { width: 40%; }
table.outcomes, table.slowest { font-size: 13px; }
table.slowest td { white-space: nowrap; }
p.hint { color: #555; margin: .2em 0 .5em; }
table.comparison td.bad { color: #D55E00; font-weight: bold; }
@media print { body { max-width: none; margin: 0; font-size: 11px; }
  svg.figure, table, .verdict { break-inside: avoid; } h2 { break-after: avoid; } }
"""

# First in <head>: records every error and blocked request from then on.
LISTEN = """(function () {
  var errors = window.reportErrors = [];
  function error(what) { errors.push(String(what)); }
  window.addEventListener("error", function (e) { error(e.message || "failed: " + e.target); },
                          true);
  window.addEventListener("unhandledrejection", function (e) { error(e.reason); });
  document.addEventListener("securitypolicyviolation", function (e) {
    error("blocked " + e.blockedURI); });
  var consoleError = console.error;
  console.error = function () { error([].join.call(arguments, " "));
                                consoleError.apply(console, arguments); };
})();"""

# Last in <body>: how many data marks each chart drew, requests made and errors, as data-*.
PROBE = """(function () {
  function probe() {
    document.querySelectorAll("g.chart").forEach(function (chart) {
      var drawn = 0;
      chart.querySelectorAll(".series").forEach(function (mark) {
        var box = mark.getBBox();
        if (!(box.width > 0 || box.height > 0)) return;
        drawn += mark.tagName === "polyline" ? mark.points.numberOfItems : 1;
      });
      chart.dataset.drawn = drawn;
    });
    document.querySelectorAll("table[class]").forEach(function (table) {
      document.body.dataset["table" + table.className.replace(/^./, function (c) {
        return c.toUpperCase(); })] = table.tBodies[0].rows.length;
    });
    var body = document.body, errors = window.reportErrors || ["the error listener did not run"];
    body.dataset.resources = performance.getEntriesByType("resource").length;
    body.dataset.errors = errors.length;
    body.dataset.errorText = errors.join(" | ");
  }
  probe();
  window.addEventListener("load", probe);
})();"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def render(
    report: LoadReport | RunReport,
    baseline: LoadReport | RunReport | None = None,
    comparison: Comparison | None = None,
) -> str:
    """The page for `report`; `baseline`: another report whose series the charts draw too,
    dashed and labelled "baseline"; `comparison`: `report` against it, for the verdict and a
    table (`report --html --compare`)."""
    run = report if isinstance(report, RunReport) else None
    page = as_load(report) if isinstance(report, RunReport) else report
    base = as_load(baseline) if isinstance(baseline, RunReport) else baseline
    meta = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in metadata(page))
    figures = [rate_figure(page, base), latency_figure(page, base), spectrum_figure(page, base),
               throttle_figure(page)]  # fmt: skip
    # No "<" at all in the embedded JSON (it holds what receivers said): neither "</script>"
    # nor "<!--" can end or bend the script element; JSON reads "\\u003c" back as "<".
    data = json.dumps(as_json(report)).replace("<", "\\u003c")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>webhook-sim {report.kind} report: {_e(_url(report.settings.get("url")))}</title>
<script>{LISTEN}</script>
<style>{STYLE}</style></head>
<body data-errors="0" data-resources="0">
<h1>webhook-sim {report.kind} report</h1>
<dl class="meta">{meta}</dl>
{verdict(page, run, comparison)}
<p class="hint">Hover a chart for each second's figures. Times are seconds from the start;
a hatched band is a last second the run covered only in part, drawn at its rate.</p>
{"" if base is None else against(base, comparison)}{"".join(figures)}
{tables(page, run=run is not None)}
<script type="application/json" id="report">{data}</script>
<script>{PROBE}</script>
</body></html>
"""
