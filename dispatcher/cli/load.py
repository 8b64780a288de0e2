"""`webhook-sim load`: a load test, on as many worker processes as there are cores."""

from __future__ import annotations

from ..jobs import params
from ..report import print_outcome
from ..signals import SIGNALS
from .app import app
from .declare import Flags, command
from .output import Outputs, merged, run_fast, save_reports, save_shard, warn_insecure, watched


@command(app, params.LOAD)
def load(flags: Flags) -> int:
    """Load-test a receiver: arrivals at a rate, latency corrected for coordinated omission.

    Exit 0 done (and every --expect met), 1 a threshold failed (or, with no --expect, nothing
    was delivered), 2 bad input, 130/143 interrupted. A shard: 0 once it ran (its verdict is
    merge's), 1 late or a worker lost.
    """
    from ..jobs.load import LoadJob, load_one, load_workers
    from ..launch.command import launch_and_merge

    out = Outputs(120, **{k: flags[k] for k in ("report_json", "report_html", "shard_out", "log")})
    if flags["ray"]:
        return merged(out, launch_and_merge("load", params.LOAD, flags, LoadJob.from_flags))
    job = LoadJob.from_flags(flags)
    warn_insecure(job.settings)
    out.console.print(job.describe(), markup=False)
    if job.plan.workers == 1:
        engine = job.engine()
        result = run_fast(watched(engine, load_one(job, engine), out.console))
    else:
        result = load_workers(job)
    print_outcome(out.console, result.report, result.verdicts)
    save_reports(out, result.report)
    save_shard(out, result.shard)
    if job.sharding.defers:
        return SIGNALS.exit_code() or (1 if result.failed else 0)
    if not (SIGNALS.first or result.passed or result.verdicts or result.failed):
        out.console.print(
            f"[red]nothing was delivered[/red]: 0 of {result.report.notifications.scheduled} "
            "notifications (exit 1; give --expect thresholds to decide otherwise)"
        )
    return SIGNALS.exit_code() or (0 if result.passed else 1)
