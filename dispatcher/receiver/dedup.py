"""What the sandbox remembers about each notification, in bounded memory.

Per notification (process id + state or status) it needs two things: how many deliveries it has
seen (for --fail-first) and whether one was already answered 2xx (to count duplicates). Both only
grow, so they fit one small number that only grows: `2 * min(deliveries, 127) + answered`.

Up to `exact_keys` notifications are remembered exactly, in a dict keyed by a 128-bit BLAKE2b
digest of the notification (about 86 bytes a key; a digest collision among a million keys has a
probability near 1e-27). Beyond that, new notifications go to a counting Bloom filter in two
generations of `max(exact_keys, 100_000)` keys each (Kirsch-Mitzenmacher double hashing over the
same digest, one byte per counter, a conservative update). When the newer generation is full, the
older one is dropped: memory stays fixed and the false-positive bound keeps holding, at the price
of forgetting notifications more than one to two generations old.

Errors, all in one direction: a notification never seen may be taken for one seen before (a
false duplicate, or a delivery count too high, so fewer --fail-first failures) with probability at
most `fp_bound`; a notification older than the two generations is taken for a new one.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

MIN_GENERATION_KEYS = 100_000
_MAX_DELIVERIES = 127  # fits the 7 bits left beside the "answered" bit in one byte
_MASK64 = (1 << 64) - 1


def digest(process_id: str, key: str) -> int:
    data = f"{process_id}\x00{key}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "little")


class CountingBloom:
    """A counting Bloom filter of one-byte values, read as the minimum over a key's counters.

    Values only ever rise, so writing max(counter, value) at each position (a conservative
    update) never lowers what another key reads.
    """

    def __init__(self, capacity: int, fp_rate: float) -> None:
        self.capacity = capacity
        self.fp_rate = fp_rate
        self.size = max(8, math.ceil(-capacity * math.log(fp_rate) / math.log(2) ** 2))
        self.hashes = max(1, round(self.size / capacity * math.log(2)))
        self.keys = 0
        self._counters = bytearray(self.size)

    def positions(self, h: int) -> list[int]:
        """Where `h` lives: Kirsch-Mitzenmacher double hashing over the digest's two halves.
        Filters of the same capacity and rate share them, so a caller computes them once."""
        low, high, size = h & _MASK64, (h >> 64) | 1, self.size
        return [(low + i * high) % size for i in range(self.hashes)]

    def get(self, positions: list[int]) -> int:
        return min(map(self._counters.__getitem__, positions))

    def put(self, positions: list[int], value: int) -> None:
        counters = self._counters
        if min(map(counters.__getitem__, positions)) == 0:
            self.keys += 1
        for p in positions:
            if counters[p] < value:
                counters[p] = value

    @property
    def full(self) -> bool:
        return self.keys >= self.capacity


class NotificationMemory:
    def __init__(
        self, exact_keys: int, fp_bound: float = 0.001, generation_keys: int | None = None
    ) -> None:
        self.exact_keys = exact_keys
        self.fp_bound = fp_bound
        self.generation_keys = generation_keys or max(exact_keys, MIN_GENERATION_KEYS)
        self._exact: dict[int, int] = {}
        # Created on first need: a sandbox that never goes past exact_keys pays nothing for them.
        self._old: CountingBloom | None = None
        self._new: CountingBloom | None = None
        self.rotations = 0
        self._last: tuple[int, list[int]] = (-1, [])  # a digest and its positions
        self._written: tuple[int, int] = (-1, 0)  # the last digest written to a filter, its value

    @property
    def approximate(self) -> bool:
        return self._new is not None

    def _positions(self, h: int, generation: CountingBloom) -> list[int]:
        # The receiver asks about the same notification up to three times in a row.
        if self._last[0] != h:
            self._last = (h, generation.positions(h))
        return self._last[1]

    def _value(self, h: int) -> tuple[int, bool]:
        """The stored value and whether the key lives in the exact dict."""
        value = self._exact.get(h)
        if value is not None:
            return value, True
        if self._new is None:
            return 0, False
        if self._written[0] == h:
            # Just written: reading the filter again costs a cache miss per hash.
            return self._written[1], False
        positions = self._positions(h, self._new)
        found = self._new.get(positions)
        if self._old is not None:
            found = max(found, self._old.get(positions))
        return found, False

    def _store(self, h: int, value: int, exact: bool) -> None:
        if exact or len(self._exact) < self.exact_keys:
            self._exact[h] = value
            return
        self._written = (h, value)
        if self._new is None:
            self._new = self._generation()
        elif self._new.full:
            self._old, self._new = self._new, self._generation()
            self.rotations += 1
        # A key read from the older generation moves to the newer one, so a notification
        # still being retried is not forgotten when the older one goes.
        self._new.put(self._positions(h, self._new), value)

    def _generation(self) -> CountingBloom:
        # The two generations are consulted together: each gets half the stated bound.
        return CountingBloom(self.generation_keys, self.fp_bound / 2)

    def delivery(self, h: int) -> int:
        """Record one more delivery of the notification; how many there have been, this one
        included (at most 127)."""
        value, exact = self._value(h)
        deliveries = min(value // 2 + 1, _MAX_DELIVERIES)
        self._store(h, deliveries * 2 + (value & 1), exact)
        return deliveries

    def was_answered(self, h: int) -> bool:
        return bool(self._value(h)[0] & 1)

    def answered(self, h: int) -> bool:
        """Record that the notification was answered 2xx; whether it had been before."""
        value, exact = self._value(h)
        if value & 1:
            return True
        self._store(h, value | 1, exact)
        return False

    def as_json(self) -> dict[str, Any]:
        exact_bytes = len(self._exact) * 86  # measured per key with tracemalloc, CPython 3.11
        generations = [g for g in (self._old, self._new) if g is not None]
        return {
            "mode": "approximate" if self.approximate else "exact",
            "exact_keys": len(self._exact),
            "exact_limit": self.exact_keys,
            "approximate": {
                "structure": "counting Bloom filter, two generations (older dropped when the "
                "newer fills)",
                "keys_per_generation": self.generation_keys,
                "generations": len(generations),
                "keys": sum(g.keys for g in generations),
                "rotations": self.rotations,
                "hashes": generations[0].hashes if generations else None,
                "bytes": sum(g.size for g in generations),
                "false_positive_bound": self.fp_bound,
            },
            "bytes_estimate": exact_bytes + sum(g.size for g in generations),
        }
