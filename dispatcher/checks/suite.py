"""The built-in conformance suite behind `webhook-sim check`: which checks run, in what order,
and the verdicts of a run that was cut short.

Each check drives the same engine as `run`, with one attempt per notification and, except
where speed is the point, a lenient deadline, so that a receiver that is only slow fails the
one check about speed and nothing else. What a check is lives in `core`, how it sends in
`sending`, the checks themselves in `acceptance`, `capacity`, `rejection`, `ordering`,
`fallback` and `denial`; every name is importable from here.

`OPT_IN` checks test how a receiver is deployed rather than the contract (`denied-source`: its
allow-list of addresses): they run when their option is given or they are named in `only`, and
are no part of a plain run's suite.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .acceptance import (
    accepts_notified_statuses,
    idempotent_duplicates,
    tolerates_extra_field,
    tolerates_unknown_status,
)
from .capacity import answers_within_timeout, burst
from .core import (
    LENIENT_TIMEOUT_S,
    MAX_EVIDENCE,
    Check,
    CheckContext,
    Findings,
    Skipped,
    Unusable,
    check,
)
from .denial import denied_source
from .fallback import fallback_polling
from .ordering import no_regression
from .rejection import rejects_bad_credentials
from .result import CheckResult

__all__ = [
    "CHECKS",
    "LENIENT_TIMEOUT_S",
    "MAX_EVIDENCE",
    "OPT_IN",
    "Check",
    "CheckContext",
    "Findings",
    "Skipped",
    "Unusable",
    "accepts_notified_statuses",
    "answers_within_timeout",
    "burst",
    "check",
    "denied_source",
    "fallback_polling",
    "idempotent_duplicates",
    "listing",
    "names",
    "no_regression",
    "not_run",
    "rejects_bad_credentials",
    "run_checks",
    "selected",
    "tolerates_extra_field",
    "tolerates_unknown_status",
]

# The suite, in the order it runs and reports.
CHECKS: list[Check] = [
    accepts_notified_statuses,
    answers_within_timeout,
    rejects_bad_credentials,
    idempotent_duplicates,
    tolerates_unknown_status,
    tolerates_extra_field,
    burst,
    no_regression,
    fallback_polling,
]
# Run when the context enables them, or when named.
OPT_IN: list[tuple[Check, Callable[[CheckContext], bool]]] = [
    (denied_source, lambda ctx: ctx.denied_source is not None),
]


def selected(ctx: CheckContext | None, only: Sequence[str] = ()) -> list[Check]:
    """The checks a run runs, in order: the suite's (or those of them named in `only`), then
    each opt-in check that is named, or (with no `only`) that `ctx` enables."""
    chosen = [c for c in CHECKS if not only or c.name in only]
    for c, enabled in OPT_IN:
        if c.name in only or (not only and ctx is not None and enabled(ctx)):
            chosen.append(c)
    return chosen


def catalog() -> list[dict[str, str]]:
    """Every check, name and what it checks, the opt-in ones last (`check --list --output
    json`)."""
    return [
        {"name": c.name, "description": c.description} for c in (*CHECKS, *(c for c, _ in OPT_IN))
    ]


def listing() -> list[str]:
    """One line per check, name and what it checks, the opt-in ones last (`check --list`)."""
    every = catalog()
    width = max(len(c["name"]) for c in every)
    return [f"{c['name']:<{width}}  {c['description']}" for c in every]


def names() -> list[str]:
    """Every check's name, the opt-in ones last: what `only` may name."""
    return [c.name for c in CHECKS] + [c.name for c, _ in OPT_IN]


async def run_checks(
    ctx: CheckContext, only: Sequence[str] = (), *, into: list[CheckResult] | None = None
) -> list[CheckResult]:
    """Run the suite (or the named checks) one after another, in the suite's order, appending
    each verdict to `into` as it comes, so an interrupted run keeps what it had."""
    results = into if into is not None else []
    for c in selected(ctx, only):
        results.append(await c.run(ctx))
    return results


def not_run(
    only: Sequence[str],
    done: Sequence[CheckResult],
    why: str,
    ctx: CheckContext | None = None,
) -> list[CheckResult]:
    """Skipped verdicts for the checks an interrupt kept from finishing: the first of them was
    under way (its verdict would rest on part of its evidence, so it has none), the rest never
    started. `ctx`: the run's, for the opt-in checks it enabled."""
    finished = {r.name for r in done}
    left = [c for c in selected(ctx, only) if c.name not in finished]
    return [
        CheckResult(
            c.name,
            c.description,
            "skipped",
            f"{why} while it ran: no verdict on part of its evidence"
            if i == 0
            else f"not run: {why}",
            needs=c.needs,
        )
        for i, c in enumerate(left)
    ]
