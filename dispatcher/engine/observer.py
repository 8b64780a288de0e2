"""What the engine tells whoever watches a run notification by notification."""

from __future__ import annotations

from typing import Literal, Protocol

from ..delivery import AttemptResult
from ..payloads import Notification

Outcome = Literal["delivered", "exhausted", "cancelled"]


class Observer(Protocol):
    def on_attempt(
        self, note: Notification, result: AttemptResult, retry_in_s: float | None
    ) -> None:
        """An attempt finished; `retry_in_s` is the wait before the next one, None if final."""

    def on_final(self, note: Notification, outcome: Outcome, attempts: int) -> None:
        """A notification reached its final outcome."""


class Quiet:
    def on_attempt(
        self, note: Notification, result: AttemptResult, retry_in_s: float | None
    ) -> None:
        pass

    def on_final(self, note: Notification, outcome: Outcome, attempts: int) -> None:
        pass
