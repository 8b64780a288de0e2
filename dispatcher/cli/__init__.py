"""The command line: a thin face over `dispatcher.jobs`. Each command takes its options by
name (`declare`, from `dispatcher.jobs.params`), builds its job, runs it, renders the typed
result and maps it to an exit code; `app.main` is the one error edge."""

from __future__ import annotations

from .app import app, main

# Each module registers its commands, in the order `--help` lists them.
# isort: off
from . import send, run, check, load, shards, report, serve, demo, scenarios  # noqa: F401
# isort: on

__all__ = ["app", "main"]
