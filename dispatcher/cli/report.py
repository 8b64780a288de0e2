"""`webhook-sim report`: a saved JSON report as a self-contained HTML page, or against a
baseline (`dispatcher.report.compare`)."""

from __future__ import annotations

from ..jobs import params
from .app import app
from .declare import Flags, command


@command(app, params.REPORT)
def report(flags: Flags) -> int:
    """Render a saved JSON load or run report as HTML (--html), and/or compare it with a
    baseline (--compare). Exit 0 done (none worse), 1 a metric worse beyond --tolerance, 2 bad
    input."""
    from ..report.compare import report_command
    from ..report.outputs import Outputs

    out = Outputs(html=flags["html"])
    return report_command(out, flags["source"], flags["compare"], flags["tolerance"])
