"""A load report as one self-contained HTML page: inline SVG charts, no script, no network.

The report's JSON is embedded too (`<script type="application/json" id="report">`), so the page
is both the picture and the data.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from .report.model import LoadReport, Second, as_json

WIDTH, HEIGHT, PAD = 760, 220, 44
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _series(timeline: Sequence[Second], key: str) -> list[tuple[float, float]]:
    points = ((p.t, getattr(p, key)) for p in timeline)
    return [(float(t), float(v)) for t, v in points if v is not None]


def line_chart(title: str, unit: str, series: dict[str, list[tuple[float, float]]]) -> str:
    """An SVG line chart of named (x, y) series sharing one pair of axes."""
    points = [pt for values in series.values() for pt in values]
    if not points:
        return f"<section><h2>{html.escape(title)}</h2><p>no data</p></section>"
    x_max = max(x for x, _ in points) or 1.0
    y_max = max(y for _, y in points) or 1.0

    def sx(x: float) -> float:
        return PAD + (WIDTH - 2 * PAD) * x / x_max

    def sy(y: float) -> float:
        return HEIGHT - PAD + (2 * PAD - HEIGHT) * y / y_max

    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'stroke="#888"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
        f'<text x="{PAD - 4}" y="{PAD + 4}" text-anchor="end" font-size="11">{y_max:.4g}</text>',
        f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" text-anchor="end" font-size="11">0</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 16}" text-anchor="end" font-size="11">'
        f"{x_max:g} s</text>",
        f'<text x="{PAD}" y="{PAD - 10}" font-size="11">{html.escape(unit)}</text>',
    ]
    for i, (name, values) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}">'
            f"<title>{html.escape(name)}</title></polyline>"
        )
        parts.append(
            f'<text x="{WIDTH - PAD - 140}" y="{PAD + 14 * i}" font-size="11" fill="{colour}">'
            f"{html.escape(name)}</text>"
        )
    parts.append("</svg>")
    return f"<section><h2>{html.escape(title)}</h2>{''.join(parts)}</section>"


def _table(rows: Sequence[tuple[str, Any]]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    return f"<table>{body}</table>"


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def render(report: LoadReport) -> str:
    timeline = report.timeline
    n, rate, sender = report.notifications, report.rate, report.sender
    service, response = report.latency_ms.service, report.latency_ms.response
    summary = _table(
        [
            ("target rate", f"{rate.target_per_s:g} /s" if rate.target_per_s
                            else "max (closed model)"),
            ("achieved rate", f"{(rate.achieved_per_s or 0):.1f} /s"),
            ("queued arrivals", rate.queued),
            ("notifications", f"{n.scheduled} scheduled, {n.delivered} delivered, "
                              f"{n.exhausted} exhausted, {n.cancelled} cancelled"),
            ("attempts by outcome", ", ".join(
                f"{k}: {v}" for k, v in report.attempts.by_outcome.items()) or "-"),
            ("service time", "  ".join(
                f"{k} {_ms(getattr(service, k))}" for k in ("p50", "p90", "p99", "max"))),
            ("response time (from intended start)", "  ".join(
                f"{k} {_ms(getattr(response, k))}" for k in ("p50", "p90", "p99", "max"))),
            ("sender loop lag p99", _ms(sender.loop_lag_ms.p99)),
            ("sender saturated", "yes" if sender.saturated else "no"),
            ("workers", report.workers),
        ]
    )  # fmt: skip
    warning = (
        "<p class=warn>The sender was saturated: these figures may be limited by webhook-sim, "
        "not by the receiver.</p>"
        if sender.saturated
        else ""
    )
    charts = [
        line_chart(
            "Rate",
            "per second",
            {
                "arrivals": _series(timeline, "arrivals"),
                "deliveries": _series(timeline, "deliveries"),
            },
        ),
        line_chart("Latency", "p99 response time, ms", {"p99": _series(timeline, "p99_ms")}),
        line_chart("Throttle", "in-flight limit", {"limit": _series(timeline, "limit")}),
        line_chart(
            "Failures", "failed attempts per second", {"failures": _series(timeline, "failures")}
        ),
    ]
    data = json.dumps(as_json(report)).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>webhook-sim load report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 60em; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ text-align: left; padding: 0.2em 1em 0.2em 0; border-bottom: 1px solid #eee; }}
h2 {{ font-size: 1.1em; margin-top: 1.5em; }}
.warn {{ color: #b00; font-weight: bold; }}
</style></head>
<body>
<h1>webhook-sim load report</h1>
<p>{html.escape(str(report.settings.get("url", "")))}</p>
{warning}
{summary}
{"".join(charts)}
<script type="application/json" id="report">{data}</script>
</body></html>
"""
