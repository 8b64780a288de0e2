"""`webhook-sim demo`: the whole contract on loopback, against built-in sandbox receivers."""

from __future__ import annotations

from ..jobs import params
from ..signals import SIGNALS, until_signalled
from .app import app, print_version
from .declare import Flags, command


@command(app, params.DEMO)
def demo(flags: Flags) -> int:
    """Show the whole contract working on loopback against built-in sandbox receivers."""
    from ..demo import run_demo, tables, verdict
    from ..load import run_fast
    from ..report.outputs import Outputs

    console = Outputs(150).console
    console.print("webhook-sim demo: every auth type, both flows, a retry and a duplicate,")
    console.print("against sandbox receivers on 127.0.0.1\n")
    done = run_fast(until_signalled(run_demo(flags["seed"])))
    if done is None:
        return SIGNALS.exit_code() or 130
    for table in tables(*done):
        console.print(table)
    line, code = verdict(done[0])
    console.print(line)
    return code


@app.command()
def version() -> None:
    """Print the version."""
    print_version(True)
