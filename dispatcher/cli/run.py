"""`webhook-sim run` (many notifications at the platform's settings, optionally a scenario) and
`webhook-sim replay` (those of an attempt log or a receiver recording, again)."""

from __future__ import annotations

from ..jobs import params
from ..signals import SIGNALS
from .app import app
from .declare import Flags, command


@command(app, params.RUN)
def run_(flags: Flags) -> int:
    """Notify many processes at the platform's settings: cap, retries, adaptive throttling.

    Exit 0 every notification delivered (with a scenario: every expectation met), 1 otherwise,
    2 bad input, 130/143 interrupted. A shard: 0 once it ran (its verdict is merge's), 1 late
    or a worker lost.
    """
    from ..exporter import serving
    from ..jobs.run import RunJob
    from ..launch.command import launch_and_merge
    from ..report.outputs import Outputs, save_shard, warn_insecure
    from ..running import run_job

    out = Outputs.of(flags)
    if flags["ray"]:
        return out.merged(launch_and_merge("run", params.RUN, flags, RunJob.from_flags))
    job = RunJob.from_flags(flags)
    warn_insecure(job.settings)
    with serving(flags, "run") as live:  # the final figures are served until the report is out
        result = run_job(job, out.progress, live)
        out.finish(result.report, result.verdicts, job.scenario)
        save_shard(out, result.shard)
    if job.sharding.defers:
        return SIGNALS.exit_code() or (1 if result.report.workers_failed else 0)
    return SIGNALS.exit_code() or (0 if result.passed else 1)


@command(app, params.REPLAY)
def replay(flags: Flags) -> int:
    """Send again the notifications of an attempt log (--log) or a receiver recording
    (receiver --record): by default those that were not delivered.

    Exit 0 every one delivered (or --print-curl), 1 otherwise, 2 bad input.
    """
    from ..jobs.replay import ReplayJob, curl_script, replay
    from ..report.outputs import Outputs
    from ..running import run_watched

    out = Outputs.of(flags)
    job = ReplayJob.from_flags(flags)
    if job.print_curl:
        print(curl_script(job), end="")
        return 0
    out.console.print(job.describe(), markup=False)
    engine = job.engine()
    result = run_watched(engine, replay(job, engine), out.progress)
    out.finish(result.report)
    return SIGNALS.exit_code() or (0 if result.passed else 1)
