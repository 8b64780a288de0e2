"""`webhook-sim run`: many notifications at the platform's settings, optionally a scenario."""

from __future__ import annotations

from pathlib import Path

from ..jobs.run import RunJob, run
from ..report import junit_xml, print_verdicts, summary_table, write_json, write_text
from ..signals import SIGNALS
from .app import app
from .declare import Flags, command
from .options import AUTH, HTTP, PAYLOAD, RETRY, TARGET, THROTTLE, TRAFFIC, argument, option
from .output import Outputs, run_fast, warn_insecure
from .stopping import watched

OWN = (
    ("junit", option(Path | None, "--junit",
                     help="With a scenario: JUnit XML, one testcase per expectation.")),
    ("progress_every", option(float | None, "--progress-every",
                              help="Seconds between progress lines when not on a terminal. "
                              "Default: 5.")),
)  # fmt: skip
SCENARIO = argument(
    Path | None,
    help="A scenario file (scenarios/*.yaml); flags override its settings.",
    default=None,
)


@command(app, (("scenario", SCENARIO), *TARGET, *AUTH, *PAYLOAD, "count", *TRAFFIC, *THROTTLE,
               *RETRY, "seed", *HTTP, "report_json", OWN[0], "grace", OWN[1]))  # fmt: skip
def run_(flags: Flags) -> int:
    """Notify many processes at the platform's settings: cap, retries, adaptive throttling.

    Exit 0 every notification delivered (with a scenario: every expectation met), 1 otherwise,
    2 bad input, 130/143 interrupted.
    """
    out = Outputs(report_json=flags["report_json"], junit=flags["junit"])
    job = RunJob.from_flags(flags)
    console = out.console(width=120)
    warn_insecure(job.settings)
    engine = job.engine()
    result = run_fast(
        watched(engine, run(job, engine), console=console, every_s=job.options.progress_every_s)
    )
    console.print(summary_table(result.report))
    if job.scenario is not None:
        console.print(f"scenario {job.scenario.name}: {job.scenario.description}", markup=False)
        print_verdicts(console, result.verdicts)
        if flags["junit"] is not None:
            suite = f"webhook-sim scenario {job.scenario.name}"
            duration = result.report.duration_s
            write_text(flags["junit"], junit_xml(suite, result.verdicts, duration_s=duration))
    if flags["report_json"] is not None:
        write_json(flags["report_json"], result.report)
        console.print(f"report written to {flags['report_json']}")
    if SIGNALS.first is not None:
        return 128 + int(SIGNALS.first)
    return 0 if result.passed else 1
