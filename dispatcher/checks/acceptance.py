"""Checks of what a receiver must accept with a 2xx: every notified status, the same
notification again (delivery is at least once), and what the contract says may still change
(an unlisted status or state, a field it does not know)."""

from __future__ import annotations

from ..contract import NOTIFIED_STATUSES, RESULTS
from ..payloads import notification
from ..traffic import UNKNOWN_STATES, UNKNOWN_STATUSES
from .core import CheckContext, Findings, check
from .sending import auth_label, expect_2xx, send


@check(
    "accepts-notified-statuses",
    "answers 2xx to every notified status of its flow (by-Unico: both payload profiles)",
    needs="a 2xx answer to each notified status",
)
async def accepts_notified_statuses(ctx: CheckContext) -> Findings:
    f = ctx.factory()
    if ctx.settings.flow == "by-client":
        plan = [notification(f.by_client(status=s)) for s in NOTIFIED_STATUSES]
    else:
        plan = [notification(f.by_unico(result=r)) for r in RESULTS]
        plan += [notification(f.by_unico(result=r, profile="minimal")) for r in RESULTS[:1]]
    return expect_2xx(await send(ctx, plan), auth_label(ctx.settings))


@check(
    "idempotent-duplicates",
    "answers 2xx every time the same notification is delivered again (at-least-once)",
    needs="a 2xx answer to each of the three deliveries",
)
async def idempotent_duplicates(ctx: CheckContext) -> Findings:
    first = notification(ctx.factory().single(ctx.settings.flow))
    sent = await send(ctx, [first, first.again(), first.again()])
    return expect_2xx(sent, auth_label(ctx.settings))


@check(
    "tolerates-unknown-status",
    "answers 2xx to a status or state the contract does not list yet",
    needs="a 2xx answer to each unlisted status or state",
)
async def tolerates_unknown_status(ctx: CheckContext) -> Findings:
    f = ctx.factory()
    if ctx.settings.flow == "by-client":
        plan = [notification(f.by_client(status=s), unknown=True) for s in UNKNOWN_STATUSES[:2]]
    else:
        plan = [
            notification(f.by_unico(state=UNKNOWN_STATES[0], result=None), unknown=True),
            notification(f.by_unico(result="manual_review"), unknown=True),
        ]
    return expect_2xx(await send(ctx, plan), auth_label(ctx.settings))


@check(
    "tolerates-extra-field",
    "answers 2xx to a notification carrying a field it does not know",
    needs="a 2xx answer to the notification with the extra field",
)
async def tolerates_extra_field(ctx: CheckContext) -> Findings:
    payload = ctx.factory().single(ctx.settings.flow)
    payload["webhookSimExtraField"] = {"added": "by a future version of the platform"}
    return expect_2xx(await send(ctx, [notification(payload)]), auth_label(ctx.settings))
