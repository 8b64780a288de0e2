"""`webhook-sim check`: the conformance suite, a pass/fail verdict for CI."""

from __future__ import annotations

import time

from ..checks.result import CheckResult
from ..jobs import params
from ..report import junit_xml, print_verdicts
from ..signals import SIGNALS, until_signalled
from .app import app
from .declare import Flags, command
from .output import Outputs, run_fast, warn_insecure


@command(app, params.CHECK)
def check(flags: Flags) -> int:
    """Run the conformance suite against a receiver: a pass/fail verdict for CI.

    Exit 0 every check passed (or was skipped), 1 any failed, 2 bad input.
    """
    from ..checks.suite import listing
    from ..jobs import check as jobs

    out = Outputs(120, report_json=flags["report_json"], junit=flags["junit"], log=flags["log"])
    if flags["list_checks"]:
        out.console.print("\n".join(listing()), markup=False)
        return 0
    job = jobs.CheckJob.from_flags(flags)
    s = job.context.settings
    warn_insecure(s)
    out.console.print(f"checking {s.url} ({s.flow}, auth {s.auth.type})", markup=False)
    started, results = time.perf_counter(), list[CheckResult]()
    run_fast(until_signalled(jobs.check(job, into=results)))
    done = jobs.finish(job, results, started)
    print_verdicts(out.console, done.results)
    out.save("junit", junit_xml("webhook-sim check", done.results, duration_s=done.duration_s))
    out.save("report_json", done.report)
    return SIGNALS.exit_code() or (0 if done.report.passed else 1)
