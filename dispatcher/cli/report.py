"""`webhook-sim report`: a saved JSON load report as a self-contained HTML page."""

from __future__ import annotations

from ..html import render
from ..jobs import params
from ..report import read_load_report
from .app import app
from .declare import Flags, command
from .output import Outputs


@command(app, params.REPORT)
def report(flags: Flags) -> int:
    """Render a saved JSON load report as a self-contained HTML page."""
    out = Outputs(html=flags["html"])
    out.save("html", render(read_load_report(flags["source"])), "HTML report")
    return 0
