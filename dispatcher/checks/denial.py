"""The check that a receiver refuses notifications from an address it does not allow
(`check --denied-source IP`): an allow-list of the platform's addresses, enforced.

A refusal only means something next to an acceptance: so the check first sends a valid
notification from the usual address (the --source-address ones, else the OS's choice), which
must get a 2xx, then another from the denied address, which must not. Without the first, a
receiver that is down, or refuses everyone, would pass.
"""

from __future__ import annotations

import dataclasses

from ..payloads import notification
from .core import CheckContext, Findings, Skipped, check
from .sending import auth_label, send

# What a denied address may meet instead of an HTTP answer: the connection refused or cut, or
# its packets dropped (a firewall's DROP answers nothing; the usual address got an answer).
REFUSALS = ("refused", "reset", "timeout")


def _from(ctx: CheckContext, sources: tuple[str, ...]) -> CheckContext:
    settings = ctx.settings.model_copy(update={"source_addresses": sources})
    return dataclasses.replace(ctx, settings=settings)


@check(
    "denied-source",
    "refuses a valid notification from --denied-source that it accepts from the usual address",
    needs="a 2xx to a notification from the usual address, and no 2xx (an HTTP refusal, or a "
    "refused, reset or dropped connection) to one from the denied address",
)
async def denied_source(ctx: CheckContext) -> Findings:
    denied = ctx.denied_source
    if denied is None:
        raise Skipped(
            "no --denied-source: give it a local address the receiver must refuse (a loopback "
            "alias such as 127.0.0.3 on one machine) to run this check"
        )
    usual = tuple(a for a in ctx.settings.source_addresses if a != denied)
    f = ctx.factory()
    auth = auth_label(ctx.settings)
    found = Findings()
    control = await send(_from(ctx, usual), [notification(f.single(ctx.settings.flow))])
    for note, result in control.results():
        where = ", ".join(usual) or "the default address"
        found.evidence.append(control.describe(note, result, f"{auth}, from {where}"))
        if not result.ok:
            got = (
                f"got no HTTP answer ({result.outcome})"
                if result.status is None
                else f"answered {result.outcome}, not 2xx"
            )
            found.missing.append(
                f"from {where} it {got}: with nothing accepted, a refusal from {denied} would "
                "not show that it is the address being refused"
            )
    probe = await send(_from(ctx, (denied,)), [notification(f.single(ctx.settings.flow))])
    for note, result in probe.results():
        found.evidence.append(probe.describe(note, result, f"{auth}, from {denied}"))
        if result.ok:
            found.problems.append(
                f"the receiver accepted a notification from {denied} (it answered "
                f"{result.outcome}): it does not restrict callers by source address"
            )
        elif result.status is not None or result.error in REFUSALS:
            found.support += 1
        else:
            found.missing.append(
                f"from {denied} it got {result.outcome}: neither an HTTP answer nor a refused "
                "connection"
            )
    return found
