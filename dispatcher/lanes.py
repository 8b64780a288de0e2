"""One sender's share of a plan (a lane: processes first, first + step, ...) as the engine
reads it: the notifications and, in the open model, the instant each is due, in lockstep."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from .arrivals import RateProfile
from .payloads import Notification
from .shards import striped
from .traffic import TrafficPlan


class Lane:
    def __init__(
        self, plan: TrafficPlan, first: int, step: int, profile: RateProfile | None = None
    ) -> None:
        self._items = plan.lane(first, step)
        self._profile = profile
        self._count, self._first, self._step = plan.count, first, step
        self._read: deque[Notification] = deque()  # read with their instant, not yet taken
        self._slot = -1  # the last slot read

    def notes(self) -> Iterator[Notification]:
        while True:
            if self._read:
                yield self._read.popleft()
                continue
            item = next(self._items, None)
            if item is None:
                return
            self._slot = item[0]
            yield item[1]

    def offsets(self) -> Offsets:
        assert self._profile is not None, "a lane without a rate profile has no instants"
        return Offsets(self, self._profile)

    def _next_slot(self) -> int | None:
        item = next(self._items, None)
        if item is None:
            return None
        self._slot = item[0]
        self._read.append(item[1])
        return item[0]

    def remaining(self) -> int:
        """Arrivals (processes) of this lane whose slot has not been reached yet."""
        reached = 0 if self._slot < self._first else (self._slot - self._first) // self._step + 1
        return max(0, striped(self._count, self._first, self._step) - reached)


class Offsets:
    """The instants of a lane's notifications, seconds from the start; `remaining` says how many
    arrivals are left without generating them (what a stopped load test reports as dropped)."""

    def __init__(self, lane: Lane, profile: RateProfile) -> None:
        self._lane, self._profile = lane, profile

    def __iter__(self) -> Offsets:
        return self

    def __next__(self) -> float:
        slot = self._lane._next_slot()
        if slot is None:
            raise StopIteration
        offset = self._profile.offset_at(slot)
        assert offset is not None, "a lane's slots are arrivals of its profile"
        return offset

    def remaining(self) -> int:
        return self._lane.remaining()
