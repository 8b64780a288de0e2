"""`webhook-sim load`: a load test, on as many worker processes as there are cores."""

from __future__ import annotations

from ..jobs import params
from ..signals import SIGNALS
from .app import app
from .declare import Flags, command


@command(app, params.LOAD)
def load(flags: Flags) -> int:
    """Load-test a receiver: arrivals at a rate, latency corrected for coordinated omission.

    Exit 0 done (and every --expect met), 1 a threshold failed (or, with no --expect, nothing
    was delivered), 2 bad input, 130/143 interrupted. A shard: 0 once it ran (its verdict is
    merge's), 1 late or a worker lost.
    """
    from ..exporter import serving
    from ..jobs.load import LoadJob
    from ..launch.command import launch_and_merge
    from ..report.outputs import Outputs, save_shard, warn_insecure
    from ..running import load_job

    out = Outputs.of(flags)
    if flags["ray"]:
        return out.merged(launch_and_merge("load", params.LOAD, flags, LoadJob.from_flags))
    job = LoadJob.from_flags(flags)
    warn_insecure(job.settings)
    with serving(flags, "load") as live:  # the final figures are served until the report is out
        out.console.print(job.describe(), markup=False)
        result = load_job(job, out.progress, live)
        out.finish(result.report, result.verdicts)
        save_shard(out, result.shard)
    if job.sharding.defers:
        return SIGNALS.exit_code() or (1 if result.failed else 0)
    if not (SIGNALS.first or result.passed or result.verdicts or result.failed):
        out.console.print(
            f"[red]nothing was delivered[/red]: 0 of {result.report.notifications.scheduled} "
            "notifications (exit 1; give --expect thresholds to decide otherwise)"
        )
    return SIGNALS.exit_code() or (0 if result.passed else 1)
