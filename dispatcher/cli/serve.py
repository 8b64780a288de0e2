"""`webhook-sim platform` and `webhook-sim receiver`: the two servers, running until stopped."""

from __future__ import annotations

import asyncio
import logging
import sys

from ..jobs import params
from ..signals import SIGNALS, until_signalled
from .app import app
from .declare import Flags, command
from .output import Outputs, run_fast, warn, warn_insecure


@command(app, params.PLATFORM)
def platform(flags: Flags) -> int:
    """Mock the platform's API: token, CreateProcess, GetProcess; finish processes, notify
    them, and stop notifying during outages so the polling fallback gets tested."""
    from ..jobs.platform import PlatformJob, serve
    from ..receiver.quietlog import one_line_logger, quietly

    out = Outputs(120, report_json=flags["report_json"])
    job = PlatformJob.from_flags(flags)
    warn_insecure(job.settings)
    # One line per token answer (saying whether the signature was verified), and warnings.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    def started(url: str) -> None:
        out.console.print(f"platform listening on {url} (token: POST {url}/oauth2/token); "
                          f"webhooks to {job.settings.url}; Ctrl-C to stop")  # fmt: skip

    def stopping() -> None:
        name = SIGNALS.first.name if SIGNALS.first else "signal"
        warn(f"{name}: stopping; queued notifications get up to 5 s (again to stop now)")

    serving = serve(job, started=started, stopping=stopping)
    report = run_fast(quietly(serving, one_line_logger("webhook_sim.platform")))
    out.save("report_json", report, "report")
    s = report.platform.summary
    out.console.print(f"{s.processes} processes, {s.finished} finished; {s.webhook_missed} "
                      f"missed a webhook, {s.missed_and_polled} of those were polled")  # fmt: skip
    return SIGNALS.exit_code() or 0


@command(app, params.RECEIVER)
def receiver(flags: Flags) -> int:
    """Run the sandbox receiver: checks auth and payloads, counts duplicates, injects faults.

    OAuth2: it is also the token provider, at POST /oauth/token. Counters: GET /_stats.
    """
    from ..jobs.receiver import receiver_config
    from ..receiver.app import serve_forever

    config = receiver_config(flags)
    if not flags["quiet"]:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    asyncio.run(until_signalled(serve_forever(config, flags["host"], flags["port"])))
    return SIGNALS.exit_code() or 0
