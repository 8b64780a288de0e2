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
