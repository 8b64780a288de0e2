"""`webhook-sim merge` (the shards of one run as one report, judged once) and `webhook-sim plan`
(one run or load split over N machines that start together: `dispatcher.jobs.plan`)."""

from __future__ import annotations

from ..jobs import params
from ..jobs.plan import PLAN
from .app import app
from .declare import Flags, command
from .output import Outputs, merged


@command(app, params.MERGE)
def merge(flags: Flags) -> int:
    """Merge the shards of one run (their --shard-out files) into one report, judged once.

    Exit 0 every threshold met, 1 one failed (or a shard or worker lost), 2 a shard missing,
    given twice or from another run, or bad input.
    """
    from ..jobs.merge import merge_files

    out = Outputs(120, report_json=flags["report_json"], report_html=flags["report_html"])
    outcome = merge_files(
        flags["shards"],
        expect_shards=flags["expect_shards"],
        allow_partial=flags["allow_partial"],
        thresholds=flags["expect"] or (),
    )
    return merged(out, outcome)


@command(app, PLAN)
def plan(flags: Flags) -> int:
    """Print a plan that splits one run or load (after --) over N machines starting together."""
    from ..jobs.emitters import plan_text

    print(plan_text(flags), end="")
    return 0
