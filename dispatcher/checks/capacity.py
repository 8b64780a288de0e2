"""Checks of speed and load: answers inside the platform's timeout over a batch, and holding
up under the platform's maximum of simultaneous sends."""

from __future__ import annotations

from collections import Counter

from ..payloads import notification
from .core import CheckContext, Findings, check
from .sending import auth_label, send, tally


@check(
    "answers-within-timeout",
    "p99 latency over a batch of notifications is below the configured timeout",
    needs="an HTTP answer (any status) to every notification of the batch: latency is measured "
    "over answers only",
)
async def answers_within_timeout(ctx: CheckContext) -> Findings:
    f = ctx.factory()
    timeout = ctx.settings.timeout_s
    plan = [notification(f.single(ctx.settings.flow)) for _ in range(ctx.batch)]
    sent = await send(ctx, plan, timeout_s=timeout, concurrency=max(1, min(10, ctx.batch)))
    auth = auth_label(ctx.settings)
    rows = sent.results()
    answered = sorted(r.latency_s for _, r in rows if r.status is not None)
    timeouts = [(n, r) for n, r in rows if r.error == "timeout"]
    # A refused or reset connection fails in a millisecond: it is not a fast answer.
    broken = [(n, r) for n, r in rows if r.status is None and r.error != "timeout"]
    found = Findings(support=len(answered))
    if answered:
        p99 = answered[max(0, int(len(answered) * 0.99 + 0.5) - 1)]
        found.evidence.append(
            f"p99 {p99 * 1000:.1f} ms, max {answered[-1] * 1000:.1f} ms over {len(answered)} "
            f"answered of {len(rows)} notifications, timeout {timeout:g} s"
        )
        if p99 >= timeout:
            found.problems.append(f"p99 {p99 * 1000:.0f} ms is not below the {timeout:g} s timeout")
    if timeouts:
        found.problems.append(
            f"{len(timeouts)} of {len(rows)} timed out (no answer within {timeout:g} s)"
        )
    if broken:
        kinds = Counter(r.outcome for _, r in broken)
        found.missing.append(
            f"{len(broken)} of {len(rows)} notifications got no HTTP answer ({tally(kinds)})"
        )
    found.evidence += [sent.describe(n, r, auth) for n, r in (timeouts[:3] + broken[:3])]
    return found


@check(
    "burst-500",
    "holds up under the platform's maximum of simultaneous sends",
    needs="2xx answers to all but --burst-max-failure of the simultaneous sends",
)
async def burst(ctx: CheckContext) -> Findings:
    f = ctx.factory()
    plan = [notification(f.single(ctx.settings.flow)) for _ in range(ctx.burst)]
    sent = await send(ctx, plan, concurrency=max(1, min(500, ctx.burst)))
    rows = sent.results()
    failed = [(n, r) for n, r in rows if not r.ok]
    rate = len(failed) / len(rows) if rows else 1.0
    outcomes = Counter(r.outcome for _, r in rows)
    found = Findings(support=len(rows) - len(failed))
    found.evidence.append(f"{len(rows)} sends at once: {tally(outcomes)}")
    found.evidence += [sent.describe(n, r, auth_label(ctx.settings)) for n, r in failed[:3]]
    if rate > ctx.burst_max_failure:
        found.problems.append(
            f"{len(failed)} of {len(rows)} simultaneous sends failed ({rate:.1%}), "
            f"above the {ctx.burst_max_failure:.1%} allowed"
        )
    if rows and all(r.status is None for _, r in rows):
        # However much failure is tolerated, a burst nobody answered says nothing.
        found.missing.append(f"none of the {len(rows)} sends got an HTTP answer")
    return found
