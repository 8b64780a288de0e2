"""Attempt outcomes per second, stacked by kind: status class (2xx, 4xx, ...) or error kind
(timeout, refused, ...), as the engine counted them (`dispatcher.samples.KINDS`)."""

from __future__ import annotations

from collections.abc import Sequence

from ..report.model import Second
from ..samples import KINDS
from .svg import FAILED, GREY, OK, Stack

# Successes green, client errors amber, server errors vermillion, transport errors in
# colours of their own (Okabe-Ito where it has them): the eye finds each kind across seconds.
COLOURS = {
    "1xx": "#bbbbbb", "2xx": OK, "3xx": "#56B4E9", "4xx": "#E69F00", "5xx": FAILED,
    "timeout": "#CC79A7", "refused": "#0072B2", "reset": "#F0E442", "connect": "#7f3c8d",
    "tls": "#11a579", "protocol": "#3969ac", "token": "#f2b701", "invalid-header": "#e73f74",
    "error": "#555555", "other": GREY,
}  # fmt: skip


def kinds_present(timeline: Sequence[Second]) -> list[str]:
    """The kinds any second counted, in `KINDS` order (bottom of the stack first); a kind a
    newer webhook-sim wrote, unknown here, last."""
    seen = {k for s in timeline for k, n in (s.outcomes or {}).items() if n}
    known = [k for k in KINDS if k in seen]
    return known + sorted(seen - set(known))


def kinds_stack(
    timeline: Sequence[Second], widths: Sequence[float], partial: int | None
) -> Stack | None:
    """Each second's attempts by kind, per second of what it covered (`widths`); None for a
    report written before kinds were counted."""
    if not timeline or any(s.outcomes is None for s in timeline):
        return None
    names = kinds_present(timeline)
    columns = []
    for s, per in zip(timeline, widths, strict=True):
        counts = s.outcomes or {}
        values = [counts.get(k, 0) / per for k in names]
        said = ", ".join(f"{k} {counts[k]}" for k in names if counts.get(k))
        tip = f"{s.t} s: {said or 'no attempt ended'}" + (" (part of a second)" if per < 1 else "")
        columns.append((float(s.t), s.t + per, values, tip))
    colours = [COLOURS.get(k, GREY) for k in names]
    return Stack(names, colours, columns, partial=partial)
