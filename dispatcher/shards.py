"""Splitting one run over processes and machines, k6's execution segments made simple: shard K
of N takes arrivals (processes) K, K+N, K+2N, ... of the one global plan, computed from the seed
alone, so shards never overlap and together send exactly what one sender would. Whole numbers
(the in-flight cap, a count) split with no part below one and parts summing to the whole.

A start instant lines the shards up: each prepares, waits for it, and starts its clock there,
so their per-second timelines count from the same second.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import ConfigError, WebhookSimError
from .settings import shown

SHARD_ENV = "WEBHOOK_SIM_SHARD"
MAX_SHARDS = 10_000
_SHARD = re.compile(r"^\s*(\d{1,6})\s*/\s*(\d{1,6})\s*$", re.ASCII)
_RELATIVE = re.compile(r"^\+\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$", re.ASCII)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def share(total: int, parts: int, index: int) -> int:
    """Part `index` of `total` split as evenly as whole numbers allow; the parts sum to it."""
    return total // parts + (1 if index < total % parts else 0)


def striped(total: int, start: int, step: int) -> int:
    """How many of 0..total-1 are start, start+step, ...: a lane's share of `total` items."""
    return max(0, (total - start + step - 1) // step)


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` of `count`; Shard(0, 1) is the whole."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str, *, source: str = "--shard") -> Shard:
        match = _SHARD.match(text)
        if not match:
            raise ConfigError(f"{source} = {shown(text)}: not K/N (e.g. 0/4: the first of 4)")
        index, count = int(match.group(1)), int(match.group(2))
        if not 1 <= count <= MAX_SHARDS:
            raise ConfigError(f"{source} = {shown(text)}: N must be from 1 to {MAX_SHARDS}")
        if not 0 <= index < count:
            raise ConfigError(f"{source} = {shown(text)}: K must be from 0 to {count - 1}")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def lane(self, worker: int, workers: int) -> tuple[int, int]:
        """The (first index, step) of worker `worker` of `workers` splitting this shard: the
        shard's own processes, striped again."""
        return self.index + self.count * worker, self.count * workers

    def whole(self, total: int, *, at_least_one: bool = True) -> int:
        """This shard's part of a whole number (the in-flight cap)."""
        part = share(total, self.count, self.index)
        return max(1, part) if at_least_one else part


WHOLE = Shard()


def parse_start_at(text: str, *, now: float | None = None) -> float:
    """`--start-at`: RFC 3339 UTC (2026-11-26T16:00:00Z), unix seconds, or +30s from now;
    the instant as unix seconds."""
    now = time.time() if now is None else now
    relative = _RELATIVE.match(text.strip())
    if relative:
        return now + float(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds > 0 and seconds < 1e11:
            return seconds
        raise ConfigError(f"--start-at = {shown(text)}: unix seconds must be from 1 to 1e11")
    try:
        instant = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None or instant.utcoffset() is None:
        raise ConfigError(
            f"--start-at = {shown(text)}: not an instant (RFC 3339 with a zone, e.g. "
            "2026-11-26T16:00:00Z; unix seconds; or +30s from now)"
        )
    return instant.astimezone(UTC).timestamp()


def rfc3339(unix_s: float) -> str:
    """An instant as RFC 3339 UTC with milliseconds: 2026-11-26T16:00:00.250Z."""
    return (
        datetime.fromtimestamp(unix_s, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


class RunFailed(WebhookSimError):
    """The run could not take place (nothing to report): one line on stderr, exit 1."""


class LateStart(RunFailed):
    """A shard was ready only after its start instant and its tolerance: it sends nothing
    (exit 1), instead of bursting to catch up with the others."""


def fingerprint(what: dict[str, Any]) -> str:
    """A short, stable digest of what every shard of one run must agree on."""
    text = json.dumps(what, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def seed_of(run_id: str) -> int:
    """The seed shards of one run agree on when none is given: derived from the run id."""
    return int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:8], "big") >> 1
