"""The engine: takes a plan of notifications and delivers each one by the platform's rules.

`Engine` (engine.core) runs the dispatch loop; the rules it applies are objects of their own:
`Admission` (may a send start now?), `RetryPolicy` (what follows an attempt?, in
dispatcher.backoff), the `Arrivals` (when is a fresh notification due?), and the `Recorder`
(what the run measured). The transport is injected (`Engine(..., transport=)`) or opened per run.
"""

from .admission import Admission
from .clocks import clock_resolution
from .core import Engine
from .feeds import Arrivals, LiveFeed
from .observer import Observer, Outcome
from .options import EngineOptions, Start
from .recorder import Recorder

__all__ = [
    "Admission",
    "Arrivals",
    "Engine",
    "EngineOptions",
    "LiveFeed",
    "Observer",
    "Outcome",
    "Recorder",
    "Start",
    "clock_resolution",
]
