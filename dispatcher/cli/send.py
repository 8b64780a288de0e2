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
    console, s = Outputs(log=flags["log"]).console, job.settings
    warn_insecure(s)
    console.print(f"POST {s.url}  ({s.flow}, auth {s.auth.type})", markup=False)
    console.print(json.dumps(job.payload, indent=2), highlight=False, markup=False)
    engine = job.engine(observer=AttemptPrinter(console, s))
    result = run_fast(watched(engine, send(job, engine)))
    line, code = result.verdict(SIGNALS.first)
    console.print(line)
    return code
