"""`webhook-sim demo`: the whole contract on loopback, against built-in sandbox receivers."""

from __future__ import annotations

from ..jobs import params
from ..signals import SIGNALS, until_signalled
from .app import app
from .declare import Flags, command
from .output import Outputs, run_fast


@command(app, params.DEMO)
def demo(flags: Flags) -> int:
    """Show the whole contract working on loopback against built-in sandbox receivers."""
    from ..demo import run_demo, tables

    console = Outputs(150).console
    console.print("webhook-sim demo: every auth type, both flows, a retry and a duplicate,")
    console.print("against sandbox receivers on 127.0.0.1\n")
    done = run_fast(until_signalled(run_demo(flags["seed"])))
    if done is None:
        return SIGNALS.exit_code() or 130
    for table in tables(*done):
        console.print(table)
    failed = [r for r in done[0] if not r.as_expected]
    if failed:
        console.print(f"[red]{len(failed)} case(s) did not end as expected[/red]")
        return 1
    console.print("[green]all cases ended as expected[/green]")
    return 0


@app.command()
def version() -> None:
    """Print the version."""
    import typer

    from .. import __version__

    typer.echo(f"webhook-sim {__version__}")
