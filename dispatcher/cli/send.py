"""`webhook-sim send`: one notification, every attempt printed as it happens."""

from __future__ import annotations

from ..jobs import params
from .app import app
from .declare import Flags, command


@command(app, params.SEND)
def send_(flags: Flags) -> int:
    """Send one notification, with retries, and print every attempt.

    Exit 0 delivered, 1 not delivered, 2 bad input.
    """
    import json

    from ..jobs.send import SendJob, send
    from ..report.outputs import Outputs, SendRecord, send_json, warn_insecure
    from ..running import run_watched
    from ..signals import SIGNALS

    out, job = Outputs.of(flags, None), SendJob.from_flags(flags)
    console, s = out.console, job.settings
    warn_insecure(s)
    console.print(f"POST {s.url}  ({s.flow}, auth {s.auth.type})", markup=False)
    console.print(json.dumps(job.payload, indent=2), highlight=False, markup=False)
    record = SendRecord(console, s)
    engine = job.engine(observer=record)
    result = run_watched(engine, send(job, engine))
    line, code = result.verdict(SIGNALS.first)
    console.print(line)
    send_json(out, job.payload, record, result.outcome, code)
    return code
