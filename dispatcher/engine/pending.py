"""A notification between its attempts, and the queue of those waiting for a retry."""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ..payloads import Notification
from ..samples import SlowAttempt


@dataclass(slots=True)
class Pending:
    note: Notification
    intended: float  # loop time the next attempt is meant to start
    attempts: int = 0
    slow: list[SlowAttempt] | None = None  # its attempts kept among the slowest


class Started:
    """Whether one attempt's coroutine took its first step: per attempt, never per
    notification (its next attempt may be dispatched before this one's done-callback runs)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = False


@dataclass(order=True, slots=True)
class _Retry:
    due: float
    seq: int
    pending: Pending = field(compare=False)


class RetryQueue:
    """Notifications waiting for their next attempt, soonest first. They hold no slot, so
    retries never block fresh work. `on_size` is told the queue's length when it changes."""

    def __init__(self, on_size: Callable[[int], None]) -> None:
        self._heap: list[_Retry] = []
        self._seq = itertools.count()
        self._on_size = on_size

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def next_due(self) -> float:
        """When the soonest retry is due; inf if none waits."""
        return self._heap[0].due if self._heap else math.inf

    def push(self, due: float, pending: Pending) -> None:
        heapq.heappush(self._heap, _Retry(due, next(self._seq), pending))
        self._on_size(len(self._heap))

    def pop_due(self, now: float) -> Pending | None:
        """The soonest retry if it is due by `now`, meant to start when it fell due."""
        if not self._heap or self._heap[0].due > now:
            return None
        retry = heapq.heappop(self._heap)
        retry.pending.intended = retry.due
        self._on_size(len(self._heap))
        return retry.pending

    def drain(self) -> list[Pending]:
        waiting = [retry.pending for retry in self._heap]
        self._heap.clear()
        self._on_size(0)
        return waiting
