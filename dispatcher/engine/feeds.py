"""Where fresh notifications come from, and when each is due: one interface, three models.

Closed model (`Closed`): the next notification is due as soon as a slot is free. Open model
(`Scheduled`, load testing): each is due at its own instant, whether or not a slot is free.
Live feed (`Fed`, platform mode): a plan that grows while the engine runs. With a duration,
arrivals stop being taken once it is over.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from ..payloads import Notification
from .pending import Pending


class ArrivalEvents(Protocol):
    def scheduled(self, note: Notification) -> None: ...

    def arrivals_ended(self, now: float, dropped: int = 0) -> None: ...


class Arrivals(Protocol):
    @property
    def ended(self) -> bool:
        """No fresh notification will be taken any more."""

    @property
    def ends_at(self) -> float:
        """When arrivals stop being taken (the run's duration); inf without one, or once over."""

    def take(self, now: float) -> Pending | None:
        """The next fresh notification if one is due by `now` (it is then counted as scheduled);
        None if none is, which may be because the arrivals just ended."""

    def wake_at(self, now: float) -> float:
        """When `take` may next have something, or the arrivals end; inf if only an event can
        tell (an attempt ending, a notification put on a live feed)."""

    def expire(self, now: float, *, busy: bool) -> None:
        """Past the duration, stop taking arrivals; `busy`: no send may start now."""


class LiveFeed:
    """A plan that grows while the engine runs (platform mode): `put` adds a notification and
    wakes the engine; `close` lets the run end once everything put has a final outcome."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._queue: deque[Notification] = deque()
        self._wake = wake
        self.closed = False

    def put(self, note: Notification) -> None:
        if self.closed:
            raise RuntimeError("put on a closed feed")
        self._queue.append(note)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def __iter__(self) -> LiveFeed:
        return self

    def __next__(self) -> Notification:
        if self._queue:
            return self._queue.popleft()
        raise StopIteration


class Closed:
    """The closed model: the next notification is due as soon as a slot is free. The plan is
    read lazily, one notification per free slot."""

    def __init__(self, plan: Iterator[Notification], events: ArrivalEvents, ends_at: float) -> None:
        self._plan = plan
        self._events = events
        self._ends_at = ends_at
        self.ended = False

    @property
    def ends_at(self) -> float:
        return math.inf if self.ended else self._ends_at

    def take(self, now: float) -> Pending | None:
        if self.ended:
            return None
        note = next(self._plan, None)
        if note is None:
            if not self._more_to_come():
                self._end(now)
            return None
        self._events.scheduled(note)
        return Pending(note, now)

    def wake_at(self, now: float) -> float:
        return self._ends_at if not self.ended and self._ends_at > now else math.inf

    def expire(self, now: float, *, busy: bool) -> None:
        if not self.ended and now >= self._ends_at and self._due_to_end(busy):
            self._end(now, self._dropped())

    def _more_to_come(self) -> bool:
        return False

    def _due_to_end(self, busy: bool) -> bool:
        return True

    def _dropped(self) -> int:
        return 0

    def _end(self, now: float, dropped: int = 0) -> None:
        self.ended = True
        self._events.arrivals_ended(now, dropped)


class Fed(Closed):
    """A live feed: an empty one that is still open has nothing yet, and the engine waits for
    a put (which wakes it)."""

    def __init__(self, feed: LiveFeed, events: ArrivalEvents, ends_at: float) -> None:
        super().__init__(feed, events, ends_at)
        self._feed = feed

    def _more_to_come(self) -> bool:
        return not self._feed.closed


class Scheduled(Closed):
    """The open model: notification i is due at `t0 + schedule[i]`. Past the duration, an
    arrival that was due before it still starts if a slot is free (the sender or a timer was a
    little late); one still waiting for a slot is dropped, as k6 drops iterations no VU was
    free for, and so is every arrival the schedule still held."""

    def __init__(
        self,
        plan: Iterator[Notification],
        schedule: Iterator[float],
        t0: float,
        events: ArrivalEvents,
        ends_at: float,
    ) -> None:
        super().__init__(plan, events, ends_at)
        self._schedule = schedule
        self._t0 = t0
        self._next_due: float | None = None  # of the next fresh notification, once read
        self._exhausted = False  # the schedule has no arrival left

    def take(self, now: float) -> Pending | None:
        if self.ended or self._exhausted:
            return None
        if self._next_due is None:
            offset = next(self._schedule, None)
            if offset is None:
                # The test lasts its whole duration (as k6's do): rates divide by it.
                self._exhausted = True
                if now >= self._ends_at or self._ends_at == math.inf:
                    self._end(now)
                return None
            self._next_due = self._t0 + offset
        if self._next_due > now:
            return None
        pending = super().take(now)
        if pending is not None:
            pending.intended = self._next_due
        self._next_due = None
        return pending

    def wake_at(self, now: float) -> float:
        due = self._next_due if self._next_due is not None else math.inf
        return min(due, super().wake_at(now))

    def _due_to_end(self, busy: bool) -> bool:
        return busy or self._exhausted

    def _dropped(self) -> int:
        # A lane's schedule knows how many arrivals it holds without generating them.
        remaining = getattr(self._schedule, "remaining", None)
        rest = remaining() if callable(remaining) else sum(1 for _ in self._schedule)
        dropped = (self._next_due is not None) + rest
        self._next_due = None
        return dropped


def arrivals_for(
    plan: Iterable[Notification],
    schedule: Iterable[float] | None,
    *,
    t0: float,
    duration_s: float | None,
    events: ArrivalEvents,
) -> Arrivals:
    ends_at = t0 + duration_s if duration_s is not None else math.inf
    if schedule is not None:
        return Scheduled(iter(plan), iter(schedule), t0, events, ends_at)
    if isinstance(plan, LiveFeed):
        return Fed(plan, events, ends_at)
    return Closed(iter(plan), events, ends_at)
