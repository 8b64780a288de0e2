"""What a report shows besides counts and histograms, kept cheap enough for the hot path:
the class or error kind of each answer (an index into a per-second list of counters), the first
answer of each outcome (a sample of what the receiver said), and the slowest attempts (a
bounded heap).

Several senders (worker processes, shards) merge: counters add up, the slowest of all are the
slowest of each one's slowest (exact), and the sample of an outcome is the first sender's
(lowest index) that saw it: deterministic, whatever order their results came in.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass
from typing import Any

from .redact import REDACTOR

# What per-second outcome counters are indexed by: the HTTP status class, or the error kind
# (`DeliveryError.kind`) when no answer came; "other" for a kind this list does not know yet.
KINDS = (
    "1xx", "2xx", "3xx", "4xx", "5xx", "timeout", "refused", "reset", "connect", "tls",
    "protocol", "token", "invalid-header", "error", "other",
)  # fmt: skip
_ERRORS = {kind: i for i, kind in enumerate(KINDS) if not kind.endswith("xx")}
_OTHER = KINDS.index("other")
SLOWEST_N = 10
EXCERPT_CHARS = 200


def kind_index(status: int | None, error: str | None) -> int:
    """The index in KINDS an attempt's answer (or error) is counted under."""
    if status is not None:
        return status // 100 - 1 if 100 <= status < 600 else _OTHER
    return _ERRORS.get(error or "error", _OTHER)


def kind_counts(counts: Sequence[int]) -> dict[str, int]:
    """A per-second counter list as {kind: count}, the kinds that occurred only."""
    return {KINDS[i]: n for i, n in enumerate(counts) if n}


def add_counts(into: list[int], named: dict[str, int]) -> None:
    """Add {kind: count} (a wire's) into a counter list; a kind unknown here is "other"."""
    for kind, n in named.items():
        into[KINDS.index(kind) if kind in KINDS else _OTHER] += n


def excerpt(text: str) -> str:
    """A sample's text: every secret masked (again: a receiver may echo one), then cut."""
    scrubbed = REDACTOR.scrub(" ".join(text.split()))
    return scrubbed if len(scrubbed) <= EXCERPT_CHARS else scrubbed[:EXCERPT_CHARS] + "…"


@dataclass(slots=True)
class Sample:
    """The first attempt that ended with one outcome (a status code or an error kind)."""

    outcome: str
    status: int | None
    detail: str  # the body's first bytes or the error message, secrets masked
    process_id: str
    key: str
    attempt: int
    t_s: float  # when it was answered, seconds from the start


@dataclass(slots=True)
class SlowAttempt:
    """One of the slowest answered attempts, by service time (request sent to answer read:
    the receiver's own time); its response time (from its intended start) rides along."""

    response_s: float
    service_s: float
    process_id: str
    key: str
    attempt: int
    outcome: str
    t_s: float
    final: str | None = None  # its notification's outcome, once it had one


class Slowest:
    """The `n` slowest attempts seen, in a min-heap: a comparison per attempt once full."""

    def __init__(self, n: int = SLOWEST_N) -> None:
        self.n = n
        self._heap: list[tuple[float, int, SlowAttempt]] = []
        self._seq = itertools.count()
        # The service time an attempt must beat to be kept (-1 while there is room): an
        # attribute, not a method, as the recorder reads it for every answered attempt.
        self.floor = -1.0

    def offer(self, entry: SlowAttempt) -> bool:
        """Keep `entry` if it is among the slowest; whether it was kept."""
        if entry.service_s <= self.floor:
            return False
        item = (entry.service_s, -next(self._seq), entry)  # ties: the earlier is kept
        if len(self._heap) < self.n:
            heapq.heappush(self._heap, item)
        else:
            heapq.heapreplace(self._heap, item)
        if len(self._heap) >= self.n:
            self.floor = self._heap[0][0]
        return True

    def ranked(self) -> list[SlowAttempt]:
        """Slowest first; ties in the order they were seen."""
        return [e for _, _, e in sorted(self._heap, key=lambda i: (-i[0], -i[1]))]


def slowest_of(groups: Iterable[Sequence[SlowAttempt]], n: int = SLOWEST_N) -> list[SlowAttempt]:
    """The `n` slowest of several senders' slowest (each ranked), ties to the lower index."""
    ranked = [(-e.service_s, index, rank, e) for index, group in enumerate(groups)
              for rank, e in enumerate(group)]  # fmt: skip
    return [e for *_, e in sorted(ranked, key=lambda r: r[:3])[:n]]


def first_samples(groups: Iterable[dict[str, Sample]]) -> dict[str, Sample]:
    """Each outcome's sample from the first sender (in index order) that has one."""
    merged: dict[str, Sample] = {}
    for group in groups:
        for outcome, sample in group.items():
            merged.setdefault(outcome, sample)
    return dict(sorted(merged.items()))


def sample_wire(samples: dict[str, Sample]) -> list[list[Any]]:
    return [list(astuple(s)) for s in samples.values()]


def slow_wire(slowest: Sequence[SlowAttempt]) -> list[list[Any]]:
    return [list(astuple(s)) for s in slowest]


def samples_from(wire: Iterable[Sequence[Any]]) -> dict[str, Sample]:
    return {row[0]: Sample(*row) for row in wire}


def slowest_from(wire: Iterable[Sequence[Any]]) -> list[SlowAttempt]:
    return [SlowAttempt(*row) for row in wire]
