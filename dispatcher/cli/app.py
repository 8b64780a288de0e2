"""The `webhook-sim` command: the typer app, and the one error edge every command goes through
(a webhook-sim error is one line on stderr and exit 2, never a traceback; a secret on the
command line or in the environment never reaches any output)."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from .. import __version__
from ..errors import ConfigError
from ..jobs.flags import secrets_given
from ..redact import REDACTOR
from ..shards import RunFailed
from ..signals import SIGNALS

app = typer.Typer(
    name="webhook-sim",
    help="Plays the Unico IDCloud platform's side of the webhook contract against any receiver.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def print_version(value: bool) -> None:
    if value:
        typer.echo(f"webhook-sim {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Plays the Unico IDCloud platform's side of the webhook contract against any receiver."""


def main(argv: list[str] | None = None) -> int:
    """Console script: typer's command, but bad input is one line on stderr and exit 2.

    Signals are taken over for the whole call (see `dispatcher.signals`): a Ctrl-C never
    raises, it stops the work and the report is still written.
    """
    if SIGNALS.active:
        return _main(argv)
    with SIGNALS.installed():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    command = typer.main.get_command(app)
    if argv is None:
        argv = sys.argv[1:]
    # Known before any parsing, so that even a message about a bad value cannot show one.
    REDACTOR.clear()  # one command's secrets (tests call main() many times in one process)
    REDACTOR.add_all(secrets_given(argv, os.environ))
    if not argv:
        argv = ["--help"]  # as git does: no command is a request for help, not an error
    try:
        code = command.main(args=argv, prog_name="webhook-sim", standalone_mode=False)
    except ConfigError as exc:
        print(f"webhook-sim: error: {REDACTOR.scrub(str(exc))}", file=sys.stderr)
        return 2
    except RunFailed as exc:  # nothing was sent (a late shard), or nothing came back
        print(f"webhook-sim: {REDACTOR.scrub(str(exc))}", file=sys.stderr)
        return 1
    except typer.TyperException as exc:
        print(f"webhook-sim: error: {REDACTOR.scrub(exc.format_message())}", file=sys.stderr)
        return exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        return SIGNALS.exit_code() or 130
    return code if isinstance(code, int) else 0
