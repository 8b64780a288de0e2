"""`webhook-sim send`: one notification, every attempt printed as it happens."""

from __future__ import annotations

import json

from ..jobs import params
from ..jobs.send import SendJob, send
from ..report import AttemptPrinter
from ..signals import SIGNALS
from .app import app
from .declare import Flags, command
from .output import Outputs, run_fast, warn_insecure, watched


@command(app, params.SEND)
def send_(flags: Flags) -> int:
    """Send one notification, with retries, and print every attempt.

    Exit 0 delivered, 1 not delivered, 2 bad input.
    """
    job = SendJob.from_flags(flags)
    console, s = Outputs().console, job.settings
    warn_insecure(s)
    console.print(f"POST {s.url}  ({s.flow}, auth {s.auth.type})", markup=False)
    console.print(json.dumps(job.payload, indent=2), highlight=False, markup=False)
    engine = job.engine(observer=AttemptPrinter(console, s))
    result = run_fast(watched(engine, send(job, engine)))
    if SIGNALS.first is not None:
        console.print(f"interrupted by {SIGNALS.first.name} after {result.attempts} attempt(s)")
        return 128 + int(SIGNALS.first)
    if result.delivered:
        console.print(f"[green]delivered[/green] after {result.attempts} attempt(s)")
        return 0
    console.print(f"[red]not delivered[/red] after {result.attempts} attempt(s)")
    return 1
