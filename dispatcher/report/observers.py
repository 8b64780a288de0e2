"""Engine observers that watch a run attempt by attempt: `send`'s live lines, and a trace of
every attempt for small runs (demo, check)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console

from ..delivery import AttemptResult
from ..engine import Outcome
from ..payloads import Notification
from ..settings import Settings, scrub, secret_values


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
