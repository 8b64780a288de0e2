"""`webhook-sim run`: many notifications at the platform's settings, optionally a scenario."""

from __future__ import annotations

from ..jobs import params
from ..jobs.run import RunJob, run
from ..report import junit_xml, print_verdicts, summary_table
from ..signals import SIGNALS
from .app import app
from .declare import Flags, command
from .output import Outputs, run_fast, warn_insecure, watched


@command(app, params.RUN)
def run_(flags: Flags) -> int:
    """Notify many processes at the platform's settings: cap, retries, adaptive throttling.

    Exit 0 every notification delivered (with a scenario: every expectation met), 1 otherwise,
    2 bad input, 130/143 interrupted.
    """
    out = Outputs(120, report_json=flags["report_json"], junit=flags["junit"])
    job = RunJob.from_flags(flags)
    warn_insecure(job.settings)
    engine = job.engine()
    every_s = job.options.progress_every_s
    result = run_fast(watched(engine, run(job, engine), out.console, every_s))
    out.console.print(summary_table(result.report))
    if job.scenario is not None:
        out.console.print(f"scenario {job.scenario.name}: {job.scenario.description}", markup=False)
        print_verdicts(out.console, result.verdicts)
        suite = f"webhook-sim scenario {job.scenario.name}"
        out.save("junit", junit_xml(suite, result.verdicts, duration_s=result.report.duration_s))
    out.save("report_json", result.report, "report")
    return SIGNALS.exit_code() or (0 if result.passed else 1)
