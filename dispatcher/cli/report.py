"""`webhook-sim report`: a saved JSON load report as a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

from ..html import render as render_html
from ..report import read_load_report, write_text
from .app import app
from .declare import Flags, command
from .options import argument, option
from .output import Outputs

OWN = (
    ("source", argument(Path, help="A JSON report saved by load --report-json.")),
    ("html", option(Path, "--html", help="Where to write the HTML report.", default=...)),
)


@command(app, OWN)
def report(flags: Flags) -> int:
    """Render a saved JSON load report as a self-contained HTML page."""
    out = Outputs(html=flags["html"])
    write_text(flags["html"], render_html(read_load_report(flags["source"])))
    out.console().print(f"HTML report written to {flags['html']}")
    return 0
