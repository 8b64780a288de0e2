"""`webhook-sim check`: the conformance suite, a pass/fail verdict for CI."""

from __future__ import annotations

from ..jobs import params
from ..signals import SIGNALS
from .app import app
from .declare import Flags, command


@command(app, params.CHECK)
def check(flags: Flags) -> int:
    """Run the conformance suite against a receiver: a pass/fail verdict for CI.

    Exit 0 every check passed (or was skipped), 1 any failed, 2 bad input.
    """
    from ..checks.suite import catalog, listing
    from ..jobs.check import CheckJob
    from ..report import junit_xml, print_verdicts
    from ..report.outputs import Outputs, warn_insecure
    from ..running import check_job

    out = Outputs.of(flags)
    if flags["list_checks"]:
        out.listed(listing(), catalog())
        return 0
    job = CheckJob.from_flags(flags)
    s = job.context.settings
    warn_insecure(s)
    out.console.print(f"checking {s.url} ({s.flow}, auth {s.auth.type})", markup=False)
    done = check_job(job)
    print_verdicts(out.console, done.results)
    out.save("junit", junit_xml("webhook-sim check", done.results, duration_s=done.duration_s))
    out.result(done.report)
    return SIGNALS.exit_code() or (0 if done.report.passed else 1)
