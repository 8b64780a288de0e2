"""`webhook-sim platform` and `webhook-sim receiver`: the two servers, running until stopped."""

from __future__ import annotations

import logging
import sys

from ..jobs import params
from ..signals import SIGNALS, until_signalled
from .app import app
from .declare import Flags, command


@command(app, params.PLATFORM)
def platform(flags: Flags) -> int:
    """Mock the platform's API: token, CreateProcess, GetProcess; finish processes, notify
    them, and stop notifying during outages so the polling fallback gets tested."""
    from ..jobs.platform import PlatformJob, serve, stopping, summary_line
    from ..load import run_fast
    from ..progress import warn
    from ..receiver.quietlog import one_line_logger, quietly
    from ..report.outputs import Outputs, warn_insecure

    out = Outputs(120, report_json=flags["report_json"])
    job = PlatformJob.from_flags(flags)
    warn_insecure(job.settings)
    # One line per token answer (saying whether the signature was verified), and warnings.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    serving = serve(job, started=lambda url: out.console.print(job.listening(url)),
                    stopping=lambda: warn(stopping(SIGNALS.first)))  # fmt: skip
    report = run_fast(quietly(serving, one_line_logger("webhook_sim.platform")))
    out.save("report_json", report, "report")
    out.console.print(summary_line(report))
    return SIGNALS.exit_code() or 0


@command(app, params.RECEIVER)
def receiver(flags: Flags) -> int:
    """Run the sandbox receiver: checks auth and payloads, counts duplicates, injects faults.

    OAuth2: it is also the token provider, at POST /oauth/token. Counters: GET /_stats.
    """
    import asyncio

    from ..jobs.receiver import receiver_config
    from ..receiver.app import serve_forever

    config = receiver_config(flags)
    if not flags["quiet"]:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    asyncio.run(until_signalled(serve_forever(config, flags["host"], flags["port"])))
    return SIGNALS.exit_code() or 0
