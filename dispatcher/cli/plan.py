"""`webhook-sim plan`: one run or load split over N machines (`dispatcher.jobs.plan`)."""

from __future__ import annotations

from ..jobs.emitters import plan_text
from ..jobs.plan import PLAN
from .app import app
from .declare import Flags, command


@command(app, PLAN)
def plan(flags: Flags) -> int:
    """Print a plan that splits one run or load (after --) over N machines starting together."""
    print(plan_text(flags), end="")
    return 0
