"""The `webhook-sim` command: the typer app, and the one error edge every command goes through
(a webhook-sim error is one line on stderr and exit 2, never a traceback; a secret on the
command line or in the environment never reaches any output). It imports only what parsing
needs: `--help`, `--version` and completion never load the engine, pydantic or aiohttp."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from ..errors import ConfigError, DeliveryError, WebhookSimError
from ..jobs.flags import secrets_given
from ..redact import REDACTOR
from ..signals import SIGNALS

app = typer.Typer(name="webhook-sim", no_args_is_help=True, add_completion=True,
                  pretty_exceptions_enable=False, rich_markup_mode=None)  # fmt: skip


def print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"webhook-sim {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(show_version: Annotated[bool, typer.Option("--version", help="Print the version and "
          "exit.", callback=print_version, is_eager=True)] = False) -> None:  # fmt: skip
    """Plays the Unico IDCloud platform's side of the webhook contract against any receiver."""


def main(argv: list[str] | None = None) -> int:
    """Console script: typer's command, but bad input is one line on stderr and exit 2. Signals
    are taken over for the whole call (`dispatcher.signals`): a Ctrl-C stops the work."""
    if SIGNALS.active:
        return _main(argv)
    with SIGNALS.installed():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if len(argv) == 2 and argv[0] in ("--install-completion", "--show-completion"):
        # A shell named: typer's variant of these options that takes one (it detects it else).
        os.environ["_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"] = "1"
    command = typer.main.get_command(app)
    os.environ.pop("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", None)
    # Known before any parsing, so that even a message about a bad value cannot show one.
    REDACTOR.clear()  # one command's secrets (tests call main() many times in one process)
    REDACTOR.add_all(secrets_given(argv, os.environ))
    if not argv:
        argv = ["--help"]  # as git does: no command is a request for help, not an error
    sub = getattr(command, "commands", {}).get(argv[0]) if argv[1:] == ["--help"] else None
    if sub is not None:  # typer's help, without the parse that imports pydantic for each value
        root = typer.Context(command, info_name="webhook-sim")
        typer.echo(sub.get_help(typer.Context(sub, info_name=argv[0], parent=root)))
        return 0
    try:
        code = command.main(args=argv, prog_name="webhook-sim", standalone_mode=False)
    except ConfigError as exc:
        print(f"webhook-sim: error: {REDACTOR.scrub(str(exc))}", file=sys.stderr)
        return 2
    except WebhookSimError as exc:  # RunFailed: nothing was sent (a late shard) or came back
        if isinstance(exc, DeliveryError):
            raise  # the engine records these, never raises them this far: a bug, traceback
        print(f"webhook-sim: {REDACTOR.scrub(str(exc))}", file=sys.stderr)
        return 1
    except typer.TyperException as exc:
        print(f"webhook-sim: error: {REDACTOR.scrub(exc.format_message())}", file=sys.stderr)
        return exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        return SIGNALS.exit_code() or 130
    except SystemExit as exc:  # completion's answers (--show-completion ...) end this way
        return exc.code if isinstance(exc.code, int) else 0
    return code if isinstance(code, int) else 0
