"""`webhook-sim` and `python -m dispatcher`: the stop signals are taken over before anything
else is imported, so a Ctrl-C during start-up stops the command cleanly (the run sees it the
moment it starts, and still writes its report) instead of printing a traceback from the middle
of an import. Only the interpreter's own start-up, before this module runs, is left to Python.
"""

from __future__ import annotations

import signal

_early: list[int] = []


def _record(signum: int, frame: object) -> None:
    _early.append(signum)


for _sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(_sig, _record)


def console_main() -> None:
    import contextlib
    import os
    import sys

    from .signals import SIGNALS

    SIGNALS.install(early=_early)
    try:
        from .cli import main

        code = main()
    except KeyboardInterrupt:  # pragma: no cover - only if a handler was not ours after all
        code = SIGNALS.exit_code() or 130
    # No interpreter shutdown: it would hand SIGINT and SIGTERM back to their defaults while it
    # runs, and a late Ctrl-C would then kill a process whose report is already written.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing left to say
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    console_main()
