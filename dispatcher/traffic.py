"""What to send: a lazy plan of notifications for many processes, seeded and reproducible.

The plan is a generator, never a list: a million processes cost the same memory as ten. Faults
the platform really produces are injected on purpose: a duplicate (at-least-once delivery) is
re-sent a little later in the stream, a reordered process's earlier status is held back until
after its later one, and an unknown status stands in for one the contract may add.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass

from .contract import STATE_FINISHED, Flow, PayloadProfile
from .payloads import Notification, PayloadFactory, notification
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
# A deferred notification comes back after this many further notifications at most, so the
# held-back buffer stays small whatever the count.
MAX_DEFER = 64


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    count: int
    flow: Flow = "by-unico"
    notify: tuple[str, ...] = ()  # statuses (by-client) or results (by-unico) to notify
    profile: PayloadProfile = "current"
    duplicates: float = 0.0
    reorder: float = 0.0
    unknown: float = 0.0
    seed: int | None = None

    def __iter__(self) -> Iterator[Notification]:
        return _generate(self)

    @classmethod
    def of(cls, settings: Settings, traffic: TrafficSettings, count: int) -> TrafficPlan:
        """The plan `count` processes make under these settings and traffic quirks."""
        return cls(
            count=count,
            flow=settings.flow,
            notify=settings.notified,
            profile=settings.payload_profile,
            duplicates=traffic.duplicates,
            reorder=traffic.reorder,
            unknown=traffic.unknown,
            seed=traffic.seed,
        )


def _paths(plan: TrafficPlan) -> tuple[list[tuple[int, ...]], list[float]]:
    allowed = {int(s) for s in plan.notify} if plan.notify else {2, 3, 4, 5}
    paths: list[tuple[int, ...]] = []
    weights: list[float] = []
    for path, weight in CLIENT_PATHS:
        kept = tuple(s for s in path if s in allowed)
        if kept:
            paths.append(kept)
            weights.append(weight)
    return paths, weights


def _results(plan: TrafficPlan) -> tuple[list[str], list[float]]:
    allowed = set(plan.notify) if plan.notify else {r for r, _ in UNICO_RESULTS}
    pairs = [(r, w) for r, w in UNICO_RESULTS if r in allowed]
    return [r for r, _ in pairs], [w for _, w in pairs]


def _generate(plan: TrafficPlan) -> Iterator[Notification]:
    rng = random.Random(plan.seed)
    factory = PayloadFactory(rng.getrandbits(64))
    deferred: list[tuple[int, int, Notification]] = []  # (due position, tiebreak, notification)
    tiebreak = itertools.count()
    position = 0

    def emit(note: Notification) -> Iterator[Notification]:
        nonlocal position
        yield note
        position += 1
        if plan.duplicates and not note.duplicate and rng.random() < plan.duplicates:
            due = position + rng.randint(1, MAX_DEFER)
            heapq.heappush(deferred, (due, next(tiebreak), note.again()))
        while deferred and deferred[0][0] <= position:
            yield from emit(heapq.heappop(deferred)[2])

    # Each flow reads only its own kind of `notify` entry (status numbers, or result names).
    paths, path_weights = _paths(plan) if plan.flow == "by-client" else ([], [])
    results, result_weights = _results(plan) if plan.flow == "by-unico" else ([], [])
    for _ in range(plan.count):
        for note in _process(plan, rng, factory, paths, path_weights, results, result_weights):
            if note.reordered:
                # The earlier status arrives after the later one: hold it back a while.
                due = position + rng.randint(1, MAX_DEFER)
                heapq.heappush(deferred, (due, next(tiebreak), note))
                continue
            yield from emit(note)
    while deferred:
        yield from emit(heapq.heappop(deferred)[2])


def _process(
    plan: TrafficPlan,
    rng: random.Random,
    factory: PayloadFactory,
    paths: list[tuple[int, ...]],
    path_weights: list[float],
    results: list[str],
    result_weights: list[float],
) -> list[Notification]:
    """The notifications of one process, in the order the platform produced them."""
    process_id = factory.process_id()
    unknown = bool(plan.unknown) and rng.random() < plan.unknown
    if plan.flow == "by-client":
        path = rng.choices(paths, path_weights)[0]
        if unknown:
            return [
                notification(
                    factory.by_client(process_id=process_id, status=rng.choice(UNKNOWN_STATUSES)),
                    unknown=True,
                )
            ]
        notes = [notification(factory.by_client(process_id=process_id, status=s)) for s in path]
        if len(notes) > 1 and plan.reorder and rng.random() < plan.reorder:
            first = notes[0]
            notes[0] = notification(first.payload, reordered=True)
        return notes
    if unknown:
        payload = factory.by_unico(
            process_id=process_id,
            state=rng.choice(UNKNOWN_STATES),
            result=None,
            profile=plan.profile,
        )
        return [notification(payload, unknown=True)]
    result = rng.choices(results, result_weights)[0]
    payload = factory.by_unico(
        process_id=process_id, state=STATE_FINISHED, result=result, profile=plan.profile
    )
    return [notification(payload)]
