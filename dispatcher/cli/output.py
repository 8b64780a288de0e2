"""The stop messages and warnings of a command, its event loop, and (from
`dispatcher.report.outputs`) where its words and files go."""

from __future__ import annotations

from ..jobs.merge import MergeOutcome
from ..load import run_fast as run_fast  # the commands' event loop
from ..progress import warn as warn
from ..progress import watched as watched
from ..report import print_outcome
from ..report.outputs import Outputs as Outputs
from ..report.outputs import save_reports as save_reports
from ..report.outputs import save_shard as save_shard
from ..settings import Settings
from ..signals import SIGNALS


def warn_insecure(settings: Settings) -> None:
    if settings.insecure:
        warn("[yellow]warning: --insecure: TLS certificates are not verified[/yellow]")


def merged(out: Outputs, outcome: MergeOutcome) -> int:
    """The end of a merged run (merge, --ray): its report, and its exit code."""
    print_outcome(out.console, outcome.report, outcome.verdicts)
    save_reports(out, outcome.report)
    return SIGNALS.exit_code() or (0 if outcome.passed else 1)
