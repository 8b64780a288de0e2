"""What a worker process tells its parent while it runs (every `PROGRESS_EVERY_S`), and the
parent's picture of all of them: for the progress display and `--metrics-port`. The run's
report is not built from these, but from each worker's final metrics (`metrics.to_wire`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .metrics import Metrics

PROGRESS_EVERY_S = 0.5  # how often a worker tells its parent its live figures
_LIVE = ("scheduled", "in_flight", "delivered", "retries_waiting", "exhausted", "cancelled",
         "limit", "cap", "window_attempts", "window_failures", "arrivals", "attempts_total",
         "requests_total")  # fmt: skip


def live_figures(m: Metrics) -> dict[str, Any]:
    """A worker's figures for its parent's progress display and --metrics-port (histograms
    HDR-encoded)."""
    return {
        **{name: getattr(m, name) for name in _LIVE},
        "by_outcome": dict(m.by_outcome),
        "latency": m.latency.encode(),
        "response": m.response.encode(),
    }


def added_up(figures: Iterable[dict[str, Any]]) -> Metrics:
    """Every worker's latest live figures as one Metrics, for a progress display."""
    total = Metrics(cap=0)
    for worker in figures:
        for name in _LIVE:
            setattr(total, name, getattr(total, name) + worker[name])
        total.by_outcome.update(worker["by_outcome"])
        total.latency.decode_and_add(worker["latency"])
        total.response.decode_and_add(worker["response"])
    return total


def final_figures(wire: dict[str, Any]) -> dict[str, Any]:
    """A finished worker's final figures, in the shape of its live ones: nothing in flight."""
    counters = wire["counters"]
    return {
        **{name: counters.get(name, 0) for name in _LIVE},
        "by_outcome": wire["by_outcome"],
        "latency": wire["latency"],
        "response": wire["response"],
    }


class Told:
    """What each worker last told its parent, for `on_progress`: its live figures while it
    runs, its final ones once done. A worker that died keeps its last figures (what it did
    was seen; only the report leaves it out, naming it), with nothing in flight. So every
    counter shown only grows. Shown once every worker has told or ended: a part would look
    like the whole."""

    def __init__(self, workers: int, on_progress: Callable[[Metrics], None] | None) -> None:
        self.workers = workers
        self.on_progress = on_progress
        self.figures: dict[int, dict[str, Any]] = {}
        self.done: set[int] = set()

    def progress(self, index: int, figures: dict[str, Any]) -> None:
        self.figures[index] = figures
        self._show()

    def ended(self, index: int, wire: dict[str, Any] | None) -> None:
        if wire is not None:
            self.figures[index] = final_figures(wire)
        elif index in self.figures:
            self.figures[index] = {**self.figures[index], "in_flight": 0, "retries_waiting": 0}
        self.done.add(index)
        self._show()

    def _show(self) -> None:
        everyone = len(self.figures.keys() | self.done) == self.workers
        if self.on_progress is not None and self.figures and everyone:
            self.on_progress(added_up(self.figures.values()))
