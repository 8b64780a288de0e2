"""How an engine runs, beyond the settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..transport import HttpClient


@dataclass(frozen=True, slots=True)
class EngineOptions:
    grace_s: float = 2.0  # how long in-flight requests may finish after a stop
    seed: int | None = None  # jitter
    http_client: HttpClient = "aiohttp"  # "lean" for load: see dispatcher.leanhttp
    # What latencies are measured on (the event loop's clock may tick in whole milliseconds);
    # a virtual-time loop's own `time` in tests (dispatcher.testing.virtualtime).
    clock: Callable[[], float] = time.perf_counter
    # This sender's place (0..1) among senders sharing --max-rate (workers, shards): its pacer
    # starts that fraction of its period late, so their starts interleave evenly.
    pace_phase: float = 0.0
    # What start instants (`Start`) are read on: the wall clock every machine agrees on.
    wall_clock: Callable[[], float] = time.time


@dataclass(frozen=True, slots=True)
class Start:
    """An instant several senders start their clocks at (unix seconds), and how late a sender
    may be ready for it and still start; later than that, it sends nothing."""

    at_unix_s: float
    tolerance_s: float = 1.0
