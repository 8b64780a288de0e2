"""Hand-written SVG charts for the HTML report: pure functions from numbers to markup.

A figure is one `<svg>` of one or more panels stacked over a shared x axis. Every panel is a
`<g class="chart" data-points="N">` holding its N data marks (`class="series"`: a polyline's
vertices, a dot or a bar each), so a browser can count what it drew; axes have ticks and unit
labels, the legend sits right of the plot area (it never covers data), and every mark or
time column has a `<title>` tooltip. No script, no external resource: it prints as it shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

W = 960  # the figure's width (it scales down with the page)
LEFT, RIGHT = 70, 750  # the plot area's x range; the legend goes right of it
PANEL_H = 220  # one panel's height: title, plot, x ticks
TOP, BOTTOM = 34, 40  # the plot area's margins inside a panel
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9")  # Okabe-Ito
OK, FAILED, GREY = "#009E73", "#D55E00", "#888"
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def number(v: float) -> str:
    """A tick label: short, no float noise."""
    if v == 0:
        return "0"
    if abs(v) >= 10_000:
        return f"{v / 1000:.4g}k"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


@dataclass(frozen=True)
class Scale:
    """Maps [lo, hi] (log10 of both when `log`) onto the pixels [a, b]."""

    lo: float
    hi: float
    a: float
    b: float
    log: bool = False

    def __call__(self, v: float) -> float:
        lo, hi = self.lo, self.hi
        if self.log:
            v, lo, hi = (math.log10(max(x, self.lo)) for x in (v, lo, hi))
        return self.a + (self.b - self.a) * (v - lo) / ((hi - lo) or 1.0)


def linear_ticks(hi: float, count: int = 5) -> list[float]:
    """Round ticks from 0 to at least `hi`, about `count` of them."""
    hi = hi if hi > 0 else 1.0
    raw = hi / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * 0.999)
    n = math.ceil(hi / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks covering [lo, hi] (both > 0)."""
    ticks: list[float] = []
    e = math.floor(math.log10(lo))
    while True:
        for m in (1, 2, 5):
            v = m * 10.0**e
            if v > lo * 1.0001 and ticks and ticks[-1] >= hi:
                return ticks
            if v <= lo * 1.0001:
                ticks = [v]
            else:
                ticks.append(v)
        e += 1


def y_axis(
    values: Sequence[float], *, log: bool, bottom: float, top: float
) -> tuple[Scale, list[float]]:
    """A y scale (and its ticks) that holds every value."""
    if log:
        positive = [v for v in values if v > 0] or [1.0]
        ticks = log_ticks(min(positive), max(positive))
        return Scale(ticks[0], ticks[-1], bottom, top, log=True), ticks
    ticks = linear_ticks(max(values, default=0.0))
    return Scale(0.0, ticks[-1], bottom, top), ticks


def wants_log(values: Sequence[float]) -> bool:
    """Latencies spanning more than a factor of 30 read better on a log axis."""
    positive = [v for v in values if v > 0]
    return bool(positive) and max(positive) / min(positive) > 30


@dataclass(frozen=True)
class Series:
    """A named line (or dots) of (x, y) points; `tips`: a tooltip per point."""

    name: str
    points: Sequence[tuple[float, float]]
    colour: str
    tips: Sequence[str] = ()
    dashed: bool = False
    step: bool = False  # hold each value until the next point
    dots: bool = False  # a dot per point, no line
    partial: int | None = None  # the index of the point measured over part of a second
    markers: bool = False  # a dot with its tooltip on every vertex of the line


@dataclass(frozen=True)
class Stack:
    """Stacked bars: for each column (x0, x1), one value per name, bottom to top."""

    names: Sequence[str]
    colours: Sequence[str]
    columns: Sequence[tuple[float, float, Sequence[float], str]]  # x0, x1, values, tooltip
    partial: int | None = None


@dataclass(frozen=True)
class Rule:
    """A labelled horizontal reference line (a cap, a threshold, a whole-run peak)."""

    name: str
    y: float
    colour: str = GREY


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str  # the y axis's label
    series: Sequence[Series] = ()
    stack: Stack | None = None
    rules: Sequence[Rule] = ()
    log: bool = False
    note: str = ""  # one line under the title


@dataclass(frozen=True)
class XAxis:
    hi: float
    label: str
    ticks: Sequence[tuple[float, str]] = ()  # defaults: linear ticks from 0
    lo: float = 0.0
    shade: tuple[float, float, str] | None = None  # (x0, x1, label): e.g. a partial second
    columns: Sequence[tuple[float, float, str]] = ()  # hover columns: x0, x1, tooltip


def _attrs(**kw: object) -> str:
    return " ".join(f'{k.rstrip("_").replace("_", "-")}="{escape(str(v))}"' for k, v in kw.items())


def _legend(items: Sequence[tuple[str, str, str]], y0: float) -> list[str]:
    """Legend entries (name, colour, kind: line, dash, dot or box) right of the plot area."""
    out = []
    for i, (name, colour, kind) in enumerate(items):
        y = y0 + 16 * i
        if kind == "box":
            mark = f'<rect x="{RIGHT + 16}" y="{y - 5}" width="14" height="10" fill="{colour}"/>'
        elif kind == "dot":
            mark = f'<circle cx="{RIGHT + 23}" cy="{y}" r="4" fill="{colour}"/>'
        else:
            dash = ' stroke-dasharray="5 3"' if kind == "dash" else ""
            mark = (f'<line x1="{RIGHT + 14}" y1="{y}" x2="{RIGHT + 32}" y2="{y}" '
                    f'stroke="{colour}" stroke-width="2"{dash}/>')  # fmt: skip
        out.append(f'{mark}<text x="{RIGHT + 38}" y="{y + 4}">{escape(name)}</text>')
    return out


def _polyline(s: Series, sx: Scale, sy: Scale) -> list[str]:
    pts = [(sx(x), sy(y)) for x, y in s.points]
    if s.step:  # hold each value until the next point: the vertices are still the points
        path = []
        for i, (x, y) in enumerate(pts):
            if i:
                path.append(f"{x:.1f},{pts[i - 1][1]:.1f}")
            path.append(f"{x:.1f},{y:.1f}")
        # Only the data points count: the step corners are drawn by a second, uncounted line.
        corners = " ".join(path)
        extra = (f'<polyline points="{corners}" fill="none" stroke="{s.colour}" '
                 f'stroke-width="2"/>')  # fmt: skip
    else:
        extra = ""
    full = [p for i, p in enumerate(pts) if i != s.partial]
    dash = ' stroke-dasharray="5 3"' if s.dashed else ""
    width = "0" if s.step else "2"
    out = [extra]
    if len(full) == 1:
        x, y = full[0]
        out.append(f'<circle class="series" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{s.colour}"/>')
    elif full:
        vertices = " ".join(f"{x:.1f},{y:.1f}" for x, y in full)
        out.append(f'<polyline class="series" points="{vertices}" fill="none" '
                   f'stroke="{s.colour}" stroke-width="{width}"{dash} '
                   f'stroke-linejoin="round"><title>{escape(s.name)}</title>'
                   "</polyline>")  # fmt: skip
    if s.markers:
        for i, (x, y) in enumerate(pts):
            if i != s.partial:
                tip = s.tips[i] if i < len(s.tips) else f"{s.name}: {number(s.points[i][1])}"
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{s.colour}">'
                           f"<title>{escape(tip)}</title></circle>")  # fmt: skip
    if s.partial is not None:
        x, y = pts[s.partial]
        if s.partial > 0:
            px, py = pts[s.partial - 1]
            out.append(f'<line x1="{px:.1f}" y1="{py:.1f}" x2="{x:.1f}" y2="{y:.1f}" '
                       f'stroke="{s.colour}" stroke-width="1.5" '
                       'stroke-dasharray="3 3"/>')  # fmt: skip
        tip = s.tips[s.partial] if s.tips else s.name
        out.append(f'<circle class="series" cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="white" '
                   f'stroke="{s.colour}" stroke-width="1.5"><title>{escape(tip)}</title>'
                   "</circle>")  # fmt: skip
    return out


def _dots(s: Series, sx: Scale, sy: Scale) -> list[str]:
    out = []
    for i, (x, y) in enumerate(s.points):
        tip = s.tips[i] if i < len(s.tips) else f"{s.name}: {number(y)}"
        out.append(f'<circle class="series" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" '
                   f'fill="{s.colour}" fill-opacity="0.85"><title>{escape(tip)}</title>'
                   "</circle>")  # fmt: skip
    return out


def _bars(stack: Stack, sx: Scale, sy: Scale) -> list[str]:
    out = []
    for i, (x0, x1, values, tip) in enumerate(stack.columns):
        base = 0.0
        hatch = ' fill-opacity="0.45" stroke-dasharray="3 2"' if i == stack.partial else ""
        for value, colour in zip(values, stack.colours, strict=True):
            if value <= 0:
                continue
            top = base + value
            y = sy(top)
            h = sy(base) - y
            out.append(f'<rect class="series" x="{sx(x0) + 0.5:.1f}" y="{y:.1f}" '
                       f'width="{max(sx(x1) - sx(x0) - 1, 1):.1f}" height="{h:.1f}" '
                       f'fill="{colour}" stroke="{colour}"{hatch}><title>{escape(tip)}</title>'
                       "</rect>")  # fmt: skip
            base = top
    return out


def _count(p: Panel) -> int:
    n = 0
    for s in p.series:
        n += len(s.points)
    if p.stack is not None:
        n += sum(1 for *_, values, _ in p.stack.columns for v in values if v > 0)
    return n


def _panel(p: Panel, x: XAxis, y0: float, hatch: str) -> str:
    top, bottom = y0 + TOP, y0 + PANEL_H - BOTTOM
    sx = Scale(x.lo, x.hi, LEFT, RIGHT)
    values = [y for s in p.series for _, y in s.points] + [r.y for r in p.rules]
    if p.stack is not None:
        values += [sum(v) for *_, v, _ in p.stack.columns]
    sy, y_ticks = y_axis(values, log=p.log, bottom=bottom, top=top)
    out = [f'<g class="chart" data-points="{_count(p)}" {_attrs(data_title=p.title)}>',
           f'<text x="{LEFT}" y="{y0 + 16}" font-weight="bold" font-size="14">'
           f"{escape(p.title)}</text>"]  # fmt: skip
    if p.note:
        out.append(f'<text x="{RIGHT}" y="{y0 + 16}" text-anchor="end" fill="#555">'
                   f"{escape(p.note)}</text>")  # fmt: skip
    if x.shade is not None:
        a, b, label = x.shade
        out.append(f'<rect x="{sx(a):.1f}" y="{top}" width="{sx(b) - sx(a):.1f}" '
                   f'height="{bottom - top}" fill="url(#{hatch})"><title>{escape(label)}</title>'
                   "</rect>")  # fmt: skip
    for v in y_ticks:
        y = sy(v)
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{RIGHT}" y2="{y:.1f}" stroke="#e4e4e4"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{number(v)}</text>'
        )
    ticks = x.ticks or [(v, number(v)) for v in linear_ticks(x.hi, 10) if v <= x.hi + 1e-9]
    for v, label in ticks:
        xx = sx(v)
        out.append(f'<line x1="{xx:.1f}" y1="{bottom}" x2="{xx:.1f}" y2="{bottom + 5}" '
                   f'stroke="#444"/><text x="{xx:.1f}" y="{bottom + 18}" '
                   f'text-anchor="middle">{escape(label)}</text>')  # fmt: skip
    out.append(f'<line x1="{LEFT}" y1="{bottom}" x2="{RIGHT}" y2="{bottom}" stroke="#444"/>'
               f'<line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{bottom}" stroke="#444"/>'
               f'<text x="{(LEFT + RIGHT) / 2}" y="{bottom + 34}" text-anchor="middle" '
               f'fill="#444">{escape(x.label)}</text>'
               f'<text transform="translate(16 {(top + bottom) / 2:.0f}) rotate(-90)" '
               f'text-anchor="middle" fill="#444">{escape(p.unit)}</text>')  # fmt: skip
    legend: list[tuple[str, str, str]] = []
    if p.stack is not None:
        out += _bars(p.stack, sx, sy)
        legend += [(n, c, "box") for n, c in zip(p.stack.names, p.stack.colours, strict=True)]
    for r in p.rules:
        y = sy(r.y)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{RIGHT}" y2="{y:.1f}" stroke="{r.colour}" '
                   f'stroke-width="1.5" stroke-dasharray="6 4"><title>{escape(r.name)}: '
                   f"{number(r.y)}</title></line>")  # fmt: skip
        legend.append((f"{r.name} ({number(r.y)})", r.colour, "dash"))
    for s in p.series:
        out += _dots(s, sx, sy) if s.dots else _polyline(s, sx, sy)
        legend.append((s.name, s.colour, "dot" if s.dots else "dash" if s.dashed else "line"))
    for a, b, tip in x.columns:  # invisible columns: hover anywhere for that second's figures
        out.append(f'<rect x="{sx(a):.1f}" y="{top}" width="{sx(b) - sx(a):.1f}" '
                   f'height="{bottom - top}" fill="transparent"><title>{escape(tip)}</title>'
                   "</rect>")  # fmt: skip
    if x.shade is not None:
        legend.append((x.shade[2].split(" (")[0], "#bbb", "box"))
    if not _count(p):
        out.append(f'<text x="{(LEFT + RIGHT) / 2}" y="{(top + bottom) / 2}" text-anchor="middle" '
                   'fill="#888">no data</text>')  # fmt: skip
    out += _legend(legend, top + 6)
    out.append("</g>")
    return "".join(out)


def figure(key: str, label: str, panels: Sequence[Panel], x: XAxis) -> str:
    """One `<svg id=key>` of `panels` stacked over a shared x axis."""
    height = PANEL_H * len(panels)
    hatch = f"{key}-hatch"
    body = "".join(_panel(p, x, i * PANEL_H, hatch) for i, p in enumerate(panels))
    return (
        f'<svg id="{key}" class="figure" viewBox="0 0 {W} {height}" width="{W}" height="{height}" '
        f'role="img" {_attrs(aria_label=label)} {FONT}>'
        f'<defs><pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f4f4f4"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#ccc" stroke-width="2"/></pattern></defs>'
        f"{body}</svg>"
    )
