"""What to send: a lazy plan of notifications for many processes, seeded and reproducible.

Each process is computed on its own from the seed and its index (a counter-based derivation),
so a sender that sends every Nth process (a worker, a shard on another machine) generates only
its share, and N senders together send exactly what one would: the same ids, bodies and slots.

The plan is a generator, never a list: a million processes cost the same memory as ten. Faults
the platform really produces are injected on purpose, decided per process: a duplicate
(at-least-once delivery) is re-sent a few processes later, a reordered process's earlier status
is held back until after its later one, and an unknown status stands in for one the contract
may add.

A notification's *slot* is the index of the process it is sent with: process p's own
notifications go in slot p, a held-back or duplicate one in a later slot (at most `MAX_DEFER`
later). In a load test slot i is arrival i, so every notification has its instant too.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

from .contract import STATE_FINISHED, Flow, PayloadProfile
from .overrides import NO_PAYLOAD, Edit, PayloadControl
from .payloads import Notification, PayloadFactory, names, notification
from .settings import Settings, TrafficSettings

# How a by-Client process ends, weighted as a realistic mix (most complete; some pass through
# divergence first, the case that makes reordering possible).
CLIENT_PATHS: tuple[tuple[tuple[int, ...], float], ...] = (
    ((3,), 0.55),
    ((2, 3), 0.15),
    ((4,), 0.12),
    ((5,), 0.10),
    ((2,), 0.08),
)
UNICO_RESULTS: tuple[tuple[str, float], ...] = (
    ("ok", 0.70),
    ("expired", 0.18),
    ("invalid_identity", 0.12),
)
UNKNOWN_STATUSES = (6, 7, 9)
UNKNOWN_STATES = ("PROCESS_STATE_PAUSED", "PROCESS_STATE_UNDER_REVIEW")
# A deferred notification comes back at most this many slots later, so the held-back buffer
# stays small whatever the count.
MAX_DEFER = 64
_MASK64 = (1 << 64) - 1


def process_seed(seed: int, index: int) -> int:
    """The seed of process `index`'s own generator: distinct for every (seed, index) pair."""
    return ((seed & _MASK64) << 64) | index


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    count: int  # processes
    flow: Flow = "by-unico"
    notify: tuple[str, ...] = ()  # statuses (by-client) or results (by-unico) to notify
    profile: PayloadProfile = "current"
    duplicates: float = 0.0
    reorder: float = 0.0
    unknown: float = 0.0
    seed: int = 0
    edit: Edit | None = None  # --set / --unset, applied to every body as generated
    process_ids: tuple[str, ...] = ()  # the user's: process i takes the (i mod n)th
    bodies: tuple[bytes, ...] = ()  # the user's, sent as they are: process i sends the (i mod n)th

    def __iter__(self) -> Iterator[Notification]:
        return (note for _, note in self.lane(0, 1))

    @classmethod
    def of(
        cls,
        settings: Settings,
        traffic: TrafficSettings,
        count: int,
        payload: PayloadControl = NO_PAYLOAD,
    ) -> TrafficPlan:
        """The plan `count` processes make under these settings, traffic quirks and the user's
        payload control. A traffic without a seed gets a fresh one here: give one to split a
        plan across processes."""
        return cls(
            count=count,
            flow=settings.flow,
            notify=settings.notified,
            profile=settings.payload_profile,
            duplicates=traffic.duplicates,
            reorder=traffic.reorder,
            unknown=traffic.unknown,
            seed=traffic.seed if traffic.seed is not None else random.getrandbits(63),
            edit=payload.edit,
            process_ids=payload.process_ids,
            bodies=payload.bodies,
        )

    def lane(self, index: int, lanes: int) -> Iterator[tuple[int, Notification]]:
        """The notifications of processes index, index + lanes, ... with the slot each is due
        in, slots never decreasing. The lanes 0..lanes-1 together hold exactly lane(0, 1)."""
        last = self.count - 1
        held: list[tuple[int, int, Notification]] = []  # (slot, tiebreak, notification)
        tiebreak = itertools.count()
        shape = _Shape.of(self)
        for p in range(index, self.count, lanes):
            while held and held[0][0] <= p:
                slot, _, note = heapq.heappop(held)
                yield slot, note
            for slot, note in self.process(p, shape):
                if slot == p:
                    yield slot, note
                else:
                    heapq.heappush(held, (min(slot, last), next(tiebreak), note))
        while held:
            slot, _, note = heapq.heappop(held)
            yield slot, note

    def process(self, index: int, shape: _Shape | None = None) -> list[tuple[int, Notification]]:
        """Process `index`'s notifications and their slots, from the seed and `index` alone."""
        shape = shape or _Shape.of(self)
        rng = random.Random(process_seed(self.seed, index))
        out: list[tuple[int, Notification]] = []
        for note in self._own(index, shape, rng):
            # The earlier status arrives after the later one: it is held back a while.
            slot = index + rng.randint(1, MAX_DEFER) if note.reordered else index
            out.append((slot, note))
            if self.duplicates and rng.random() < self.duplicates:
                out.append((slot + rng.randint(1, MAX_DEFER), note.again()))
        return out

    def _own(self, index: int, shape: _Shape, rng: random.Random) -> list[Notification]:
        """Process `index`'s notifications as the platform produced them, with the user's
        body, id or changes."""
        if self.bodies:
            return [given_body(self.bodies[index % len(self.bodies)])]
        notes = _notes(self, shape, rng, PayloadFactory(rng=rng))
        if not (self.process_ids or self.edit):
            return notes
        mine = self.process_ids[index % len(self.process_ids)] if self.process_ids else None
        return [_changed(note, mine, self.edit) for note in notes]


def given_body(body: bytes) -> Notification:
    """A body the user gave (`--bodies`, or one replayed), sent byte for byte, whatever it is:
    a replayed recording may hold what a receiver refused (not JSON, not a notification)."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        payload = None
    process_id, key = names(payload)
    return Notification(process_id, key, payload if isinstance(payload, dict) else {}, body)


def _changed(note: Notification, process_id: str | None, edit: Edit | None) -> Notification:
    payload = dict(note.payload)
    if process_id is not None:
        payload["processId" if "processId" in payload else "id"] = process_id
    if edit is not None:
        payload = edit.apply(payload)
    return notification(
        payload, duplicate=note.duplicate, reordered=note.reordered, unknown=note.unknown
    )


@dataclass(frozen=True, slots=True)
class _Shape:
    """The weighted choices a plan's processes draw from (each flow reads only its own kind of
    `notify` entry: status numbers, or result names)."""

    paths: tuple[tuple[int, ...], ...]
    path_weights: tuple[float, ...]
    results: tuple[str, ...]
    result_weights: tuple[float, ...]

    @classmethod
    def of(cls, plan: TrafficPlan) -> _Shape:
        paths: list[tuple[int, ...]] = []
        path_weights: list[float] = []
        if plan.flow == "by-client":
            allowed = {int(s) for s in plan.notify} if plan.notify else {2, 3, 4, 5}
            for path, weight in CLIENT_PATHS:
                kept = tuple(s for s in path if s in allowed)
                if kept:
                    paths.append(kept)
                    path_weights.append(weight)
        pairs = []
        if plan.flow == "by-unico":
            wanted = set(plan.notify) if plan.notify else {r for r, _ in UNICO_RESULTS}
            pairs = [(r, w) for r, w in UNICO_RESULTS if r in wanted]
        results = tuple(r for r, _ in pairs)
        return cls(tuple(paths), tuple(path_weights), results, tuple(w for _, w in pairs))


def _notes(
    plan: TrafficPlan, shape: _Shape, rng: random.Random, factory: PayloadFactory
) -> list[Notification]:
    """The notifications of one process, in the order the platform produced them."""
    process_id = factory.process_id()
    unknown = bool(plan.unknown) and rng.random() < plan.unknown
    if plan.flow == "by-client":
        path = rng.choices(shape.paths, shape.path_weights)[0]
        if unknown:
            return [
                notification(
                    factory.by_client(process_id=process_id, status=rng.choice(UNKNOWN_STATUSES)),
                    unknown=True,
                )
            ]
        notes = [notification(factory.by_client(process_id=process_id, status=s)) for s in path]
        if len(notes) > 1 and plan.reorder and rng.random() < plan.reorder:
            notes[0] = notification(notes[0].payload, reordered=True)
        return notes
    if unknown:
        payload = factory.by_unico(
            process_id=process_id,
            state=rng.choice(UNKNOWN_STATES),
            result=None,
            profile=plan.profile,
        )
        return [notification(payload, unknown=True)]
    result = rng.choices(shape.results, shape.result_weights)[0]
    payload = factory.by_unico(
        process_id=process_id, state=STATE_FINISHED, result=result, profile=plan.profile
    )
    return [notification(payload)]
