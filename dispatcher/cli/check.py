"""`webhook-sim check`: the conformance suite, a pass/fail verdict for CI."""

from __future__ import annotations

import time
from pathlib import Path

from ..checks.result import CheckResult
from ..report import junit_xml, print_verdicts, write_json, write_text
from ..signals import SIGNALS, until_signalled
from .app import app
from .declare import Flags, command
from .options import AUTH, HTTP, OPTIONS, TARGET, option
from .output import Outputs, run_fast, warn_insecure

OWN = (
    ("timeout", OPTIONS["timeout"].but(
        help="The platform's timeout: p99 latency must stay below it. Default: 10.")),
    *HTTP, "seed",
    ("junit", option(Path | None, "--junit", help="Write a JUnit XML report to this file.")),
    "report_json",
    ("list_checks", option(bool, "--list", default=False,
                           help="List the checks, one line each, and exit.")),
    ("only", option(list[str] | None, "--only", help="Run only this check (repeatable).")),
    ("verify_url", option(str | None, "--verify-url", help="The receiver's own view of a "
                          "process, {id} replaced: enables no-regression.")),
    ("verify_field", option(str, "--verify-field", default="status",
                            help="Dotted path of the status in that view.")),
    ("batch", option(int, "--batch", default=100, help="Notifications in the latency batch.")),
    ("burst", option(int, "--burst", default=500,
                     help="Simultaneous sends in the burst check (1..500).")),
    ("burst_max_failure", option(float, "--burst-max-failure", default=0.01,
                                 help="Failure rate the burst may reach (0..1).")),
    ("platform", option(str | None, "--platform", help="URL of a running 'webhook-sim "
                        "platform' your app uses: enables fallback-polling.")),
    ("fallback_within", option(float, "--fallback-within", default=30.0, help="Seconds after "
                               "a process finishes by which it must be polled.")),
    ("fallback_create_url", option(str | None, "--fallback-create-url", help="Your app's "
                                   "endpoint that starts a verification (POSTed "
                                   "--fallback-count times).")),
    ("fallback_count", option(int, "--fallback-count", default=3,
                              help="Verifications to start during the outage.")),
    ("fallback_window", option(float, "--fallback-window", default=10.0,
                               help="Seconds the outage lasts at most while processes finish.")),
)  # fmt: skip


@command(app, (*TARGET, *AUTH, "flow", *OWN))
def check(flags: Flags) -> int:
    """Run the conformance suite against a receiver: a pass/fail verdict for CI.

    Exit 0 every check passed (or was skipped), 1 any failed, 2 bad input.
    """
    from ..checks.suite import CHECKS
    from ..jobs import check as jobs

    out = Outputs(report_json=flags["report_json"], junit=flags["junit"])
    console = out.console(width=120)
    if flags["list_checks"]:
        width = max(len(c.name) for c in CHECKS)
        for c in CHECKS:
            console.print(f"{c.name:<{width}}  {c.description}", markup=False)
        return 0
    job = jobs.CheckJob.from_flags(flags)
    settings = job.context.settings
    warn_insecure(settings)
    console.print(
        f"checking {settings.url} ({settings.flow}, auth {settings.auth.type})", markup=False
    )
    started, results = time.perf_counter(), list[CheckResult]()
    run_fast(until_signalled(jobs.check(job, into=results)))
    done = jobs.finish(job, results, started)
    print_verdicts(console, done.results)
    if flags["junit"] is not None:
        suite, duration = "webhook-sim check", done.report.duration_s
        write_text(flags["junit"], junit_xml(suite, done.results, duration_s=duration))
    if flags["report_json"] is not None:
        write_json(flags["report_json"], done.report)
    return SIGNALS.exit_code() or (0 if done.passed else 1)
