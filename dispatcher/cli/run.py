"""`webhook-sim run` (many notifications at the platform's settings, optionally a scenario) and
`webhook-sim replay` (those of an attempt log or a receiver recording, again)."""

from __future__ import annotations

from ..jobs import params
from ..jobs.run import RunJob, judged, run, run_workers_of
from ..launch.command import launch_and_merge
from ..progress import Ticker
from ..report import junit_xml, print_outcome
from ..signals import SIGNALS
from .app import app
from .declare import Flags, command
from .output import Outputs, merged, run_fast, save_shard, warn_insecure, watched


@command(app, params.RUN)
def run_(flags: Flags) -> int:
    """Notify many processes at the platform's settings: cap, retries, adaptive throttling.

    Exit 0 every notification delivered (with a scenario: every expectation met), 1 otherwise,
    2 bad input, 130/143 interrupted. A shard: 0 once it ran (its verdict is merge's), 1 late
    or a worker lost.
    """
    paths = {name: flags[name] for name in ("report_json", "junit", "shard_out", "log")}
    out = Outputs(120, **paths)
    if flags["ray"]:
        return merged(out, launch_and_merge("run", params.RUN, flags, RunJob.from_flags))
    job = RunJob.from_flags(flags)
    warn_insecure(job.settings)
    if job.split.workers > 1:
        with Ticker(out.console, job.options.progress_every_s) as ticker:
            outcome = run_workers_of(job, on_progress=ticker)
        result = run_fast(judged(job, outcome.metrics, outcome.failed))
    else:
        engine = job.engine()
        every_s = job.options.progress_every_s
        result = run_fast(watched(engine, run(job, engine), out.console, every_s))
    if job.scenario is not None:
        out.console.print(f"scenario {job.scenario.name}: {job.scenario.description}", markup=False)
        suite = f"webhook-sim scenario {job.scenario.name}"
        out.save("junit", junit_xml(suite, result.verdicts, duration_s=result.report.duration_s))
    print_outcome(out.console, result.report, result.verdicts)
    out.save("report_json", result.report, "report")
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

    out = Outputs(120, report_json=flags["report_json"], log=flags["log"])
    job = ReplayJob.from_flags(flags)
    if job.print_curl:
        print(curl_script(job), end="")
        return 0
    out.console.print(job.describe(), markup=False)
    engine = job.engine()
    result = run_fast(watched(engine, replay(job, engine), out.console))
    print_outcome(out.console, result.report)
    out.save("report_json", result.report, "report")
    return SIGNALS.exit_code() or (0 if result.passed else 1)
