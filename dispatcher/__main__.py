"""`webhook-sim` and `python -m dispatcher`: the stop signals are taken over before anything
heavy is imported, so a Ctrl-C during start-up stops the command cleanly instead of printing a
traceback from the middle of an import."""

from __future__ import annotations

import sys

from .signals import SIGNALS


def console_main() -> None:
    SIGNALS.install()
    try:
        from .cli import main

        code = main()
    except KeyboardInterrupt:  # a signal that came before the handlers were ours
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    console_main()
