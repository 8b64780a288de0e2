"""`webhook-sim merge` (the shards of one run as one report, judged once) and `webhook-sim plan`
(one run or load split over N machines that start together: `dispatcher.jobs.plan`)."""

from __future__ import annotations

from ..jobs import params
from ..jobs.plan import PLAN
from .app import app
from .declare import Flags, command


@command(app, params.MERGE)
def merge(flags: Flags) -> int:
    """Merge the shards of one run (their --shard-out files) into one report, judged once.

    Exit 0 every threshold met, 1 one failed (or a shard or worker lost), 2 a shard missing,
    given twice or from another run, or bad input.
    """
    from ..jobs.merge import merge_files
    from ..report.outputs import Outputs

    out = Outputs.of(flags)  # first: a report path that cannot be written costs no merge
    return out.merged(merge_files(flags["shards"], expect_shards=flags["expect_shards"],
        allow_partial=flags["allow_partial"], thresholds=flags["expect"] or ()))  # fmt: skip


@command(app, PLAN)
def plan(flags: Flags) -> int:
    """Print a plan that splits one run or load (after --) over N machines starting together."""
    from ..jobs.emitters import plan_text

    print(plan_text(flags), end="")
    return 0
