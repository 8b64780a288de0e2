"""The fallback-polling check: with a running `webhook-sim platform`, stop its notifications for
a while and see whether the integrator notices and polls GetProcess for each process that
finished meanwhile, learning its final state within --fallback-within."""

from __future__ import annotations

import asyncio
import json

from pydantic import BaseModel, ValidationError

from .. import USER_AGENT
from ..transport import Transport
from .core import CheckContext, Findings, Skipped, Unusable, check
from .sending import excerpt, request


class _PlatformFallback(BaseModel):
    webhook_missed: bool
    learned_final_after_s: float | None


class _PlatformProcess(BaseModel):
    """The part of a `webhook-sim platform` process record the fallback check reads."""

    id: str
    final: str | int | None
    finished_at: str | None
    get_process_calls: list[str]
    fallback: _PlatformFallback


class _PlatformState(BaseModel):
    processes: list[_PlatformProcess]


async def _platform_state(transport: Transport, base: str) -> list[_PlatformProcess]:
    url = f"{base}/_platform/processes"
    resp = await request(transport, "GET", url)
    if resp.status != 200:
        raise Unusable(f"GET {url} answered {resp.status} {excerpt(resp.body)}")
    try:
        return _PlatformState.model_validate_json(resp.body).processes
    except ValidationError:
        raise Unusable(
            f"GET {url} answered {resp.status} but not with webhook-sim platform's process "
            f"list: {excerpt(resp.body)}"
        ) from None


async def _outage(transport: Transport, base: str, body: dict[str, str]) -> None:
    url = f"{base}/_platform/outage"
    resp = await request(
        transport,
        "POST",
        url,
        headers={"Content-Type": "application/json"},
        data=json.dumps(body).encode(),
    )
    if resp.status != 200:
        raise Unusable(f"POST {url} answered {resp.status} {excerpt(resp.body)}")


async def _during_outage(
    ctx: CheckContext, transport: Transport, base: str, before: set[str], found: Findings
) -> None:
    for _ in range(ctx.fallback_count if ctx.fallback_create_url else 0):
        assert ctx.fallback_create_url is not None
        resp = await request(
            transport, "POST", ctx.fallback_create_url,
            headers={"Content-Type": "application/json"}, data=b"{}",
        )  # fmt: skip
        found.evidence.append(f"POST {ctx.fallback_create_url} → {resp.status}")
        if not 200 <= resp.status < 300:
            found.problems.append(f"the app did not start a verification: {resp.status}")
    # Let the processes created meanwhile finish while no notification goes out.
    waited = 0.0
    while waited < ctx.fallback_window_s:
        new = [p for p in await _platform_state(transport, base) if p.id not in before]
        if new and all(p.finished_at for p in new):
            break
        await asyncio.sleep(0.1)
        waited += 0.1


@check(
    "fallback-polling",
    "when notifications stop, the integrator polls GetProcess and learns each final state "
    "within --fallback-within",
    needs="answers from the --platform control API and at least one process whose "
    "notification was dropped",
)
async def fallback_polling(ctx: CheckContext) -> Findings:
    if ctx.platform_url is None:
        raise Skipped("needs --platform URL of a running webhook-sim platform")
    base = ctx.platform_url.rstrip("/")
    found = Findings()
    missed: list[_PlatformProcess] = []
    async with Transport(timeout_s=ctx.lenient_timeout_s, user_agent=USER_AGENT) as transport:
        try:
            before = {p.id for p in await _platform_state(transport, base)}
            await _outage(transport, base, {"action": "start", "mode": "drop"})
        except Unusable as exc:
            return found.lacking(str(exc))
        found.evidence.append("webhook outage started (notifications dropped)")
        try:
            await _during_outage(ctx, transport, base, before, found)
        except Unusable as exc:
            found.lacking(str(exc))
        finally:
            # Left on, the outage would silence the platform for the user's app after the check.
            try:
                await _outage(transport, base, {"action": "end"})
                found.evidence.append("webhook outage ended")
            except Unusable as exc:
                found.lacking(f"the webhook outage may still be on: {exc}")
        if found.missing:
            return found
        waited = 0.0
        while True:
            try:
                state = await _platform_state(transport, base)
            except Unusable as exc:
                return found.lacking(str(exc))
            missed = [p for p in state if p.id not in before and p.fallback.webhook_missed]
            learned = [p.fallback.learned_final_after_s for p in missed]
            if (missed and all(t is not None for t in learned)) or waited >= ctx.fallback_within_s:
                break
            await asyncio.sleep(0.2)
            waited += 0.2
    if not missed:
        found.missing.append(
            "no process finished during the outage: start verifications against the platform "
            "while the check runs (or give --fallback-create-url)"
        )
    for p in missed:
        after = p.fallback.learned_final_after_s
        found.evidence.append(
            f"process {p.id}: final {p.final}, notification dropped, "
            f"{len(p.get_process_calls)} GetProcess call(s), final state learned "
            + (f"{after:.1f} s after it finished" if after is not None else "never")
        )
        if after is None or after > ctx.fallback_within_s:
            found.problems.append(
                f"process {p.id} was not polled within {ctx.fallback_within_s:g} s of finishing"
            )
        else:
            found.support += 1
    return found
