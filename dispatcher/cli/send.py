"""`webhook-sim send`: one notification, every attempt printed as it happens."""

from __future__ import annotations

import json

from ..contract import STATE_FINISHED
from ..jobs.send import SendJob, send
from ..report import AttemptPrinter
from ..signals import SIGNALS
from .app import app
from .declare import Flags, command
from .options import AUTH, HTTP, PAYLOAD, RETRY, TARGET, option
from .output import Outputs, run_fast, warn_insecure
from .stopping import watched

OWN = (
    ("status", option(int, "--status", default=3,
                      help="by-Client status to notify (2..5; others test tolerance of unknown "
                      "statuses).")),
    ("state", option(str, "--state", help="by-Unico state.", default=STATE_FINISHED)),
    ("result", option(str, "--result", default="ok",
                      help="by-Unico result: ok | expired | invalid_identity.")),
    ("process_flow", option(str | None, "--process-flow",
                            help="by-Unico journey (flow field). Default: random.")),
    ("process_id", option(str | None, "--process-id", help="Process UUID. Default: random.")),
)  # fmt: skip


@command(app, (*TARGET, *AUTH, *PAYLOAD, *OWN, *RETRY, "seed", *HTTP))
def send_(flags: Flags) -> int:
    """Send one notification, with retries, and print every attempt.

    Exit 0 delivered, 1 not delivered, 2 bad input.
    """
    job = SendJob.from_flags(flags)
    console = Outputs().console()
    warn_insecure(job.settings)
    s = job.settings
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
