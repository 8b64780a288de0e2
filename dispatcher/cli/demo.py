"""`webhook-sim demo`: the whole contract on loopback, against built-in sandbox receivers."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:
    from ..demo import CaseResult

from ..signals import SIGNALS, until_signalled
from .app import app
from .declare import Flags, command
from .options import OPTIONS
from .output import Outputs, run_fast

RECEIVER_COLUMNS = ("received", "accepted", "rejected_auth", "duplicates", "injected_failures",
                    "token_requests")  # fmt: skip


@command(app, (("seed", OPTIONS["seed"].but(help="Seed for the demo's process ids.", default=7)),))
def demo(flags: Flags) -> int:
    """Show the whole contract working on loopback against built-in sandbox receivers."""
    from ..demo import run_demo

    console = Outputs().console(width=150)
    console.print("webhook-sim demo: every auth type, both flows, a retry and a duplicate,")
    console.print("against sandbox receivers on 127.0.0.1\n")
    done = run_fast(until_signalled(run_demo(flags["seed"])))
    if done is None:
        return SIGNALS.exit_code() or 130
    results, stats = done
    console.print(_notifications(results))
    console.print(_receivers(stats))
    failed = [r for r in results if not r.as_expected]
    if failed:
        console.print(f"[red]{len(failed)} case(s) did not end as expected[/red]")
        return 1
    console.print("[green]all cases ended as expected[/green]")
    return 0


def _notifications(results: Sequence[CaseResult]) -> Table:
    table = Table(title="notifications", title_justify="left")
    for column in ("#", "case", "flow", "auth", "payload sent", "attempts", "outcome", "ok"):
        table.add_column(column, overflow="fold")
    for number, row in enumerate(results, 1):
        table.add_row(
            str(number),
            row.case.title,
            row.flow,
            row.auth,
            json.dumps(row.payload, separators=(",", ":")),
            "\n".join(row.attempts),
            row.outcome,
            "[green]✓[/green]" if row.as_expected else "[red]✗ expected " + row.case.expected,
        )
    return table


def _receivers(stats: Mapping[str, Mapping[str, Any]]) -> Table:
    table = Table(title="what the sandbox receivers counted (GET /_stats)", title_justify="left")
    table.add_column("receiver")
    for column in RECEIVER_COLUMNS:
        table.add_column(column, justify="right")
    for name, counts in stats.items():
        table.add_row(name, *(str(counts[c]) for c in RECEIVER_COLUMNS))
    return table


@app.command()
def version() -> None:
    """Print the version."""
    import typer

    from .. import __version__

    typer.echo(f"webhook-sim {__version__}")
