"""The check that order does not regress a process: after its final status, a late earlier
one and duplicates, the receiver's own view (read back with --verify-url) still shows final."""

from __future__ import annotations

import json
from typing import Any

from .. import USER_AGENT
from ..contract import STATE_FINISHED
from ..payloads import Notification, notification
from ..transport import Transport
from .core import CheckContext, Findings, Skipped, Unusable, check
from .sending import auth_label, excerpt, request, send, unanswered


def _dig(document: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(document, dict) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            raise KeyError(path)
    return document


@check(
    "no-regression",
    "after 3, a late 2 and duplicates, the receiver's own view still shows 3",
    needs="an HTTP answer to every delivery, a 2xx to each process's 3, and a 2xx JSON answer "
    "with the --verify-field from every --verify-url GET",
)
async def no_regression(ctx: CheckContext) -> Findings:
    if ctx.verify_url is None:
        raise Skipped("needs --verify-url to read the receiver's view of a process")
    if ctx.settings.flow != "by-client":
        raise Skipped(f"by-Unico notifies only {STATE_FINISHED}: no earlier status can be late")
    f = ctx.factory()
    plan: list[Notification] = []
    for _ in range(3):
        completed = notification(f.by_client(status=3))
        late = notification(f.by_client(process_id=completed.process_id, status=2), reordered=True)
        plan += [completed, late, completed.again(), late.again()]
    sent = await send(ctx, plan)
    rows = sent.results()
    found = Findings()
    found.evidence += [sent.describe(n, r, auth_label(ctx.settings)) for n, r in rows[:4]]
    # Unless the late 2 reached the receiver after its 3 did, its view proves nothing.
    if gap := unanswered(rows, "deliveries"):
        found.missing.append(gap)
    process_ids = list(dict.fromkeys(n.process_id for n in plan))
    for process_id in process_ids:
        threes = [r for n, r in rows if n.process_id == process_id and n.key == "3"]
        answered = [r.outcome for r in threes if r.status is not None]
        if answered and not any(r.ok for r in threes):
            found.missing.append(
                f"process {process_id}: its 3 was answered {', '.join(answered)}, never 2xx"
            )
    # From the addresses the notifications came from: a receiver that allows only those
    # (--allow-from) would refuse its own view to any other.
    sources = ctx.settings.source_addresses
    async with Transport(
        timeout_s=ctx.lenient_timeout_s, user_agent=USER_AGENT, source_addresses=sources
    ) as transport:
        for process_id in process_ids:
            url = ctx.verify_url.replace("{id}", process_id)
            try:
                resp = await request(transport, "GET", url, headers={"Accept": "application/json"})
            except Unusable as exc:
                found.lacking(str(exc))
                continue
            if not 200 <= resp.status < 300:
                found.lacking(f"GET {url} answered {resp.status} {excerpt(resp.body)}")
                continue
            try:
                value = _dig(json.loads(resp.body), ctx.verify_field)
            except (ValueError, KeyError):
                found.lacking(
                    f"GET {url} answered {resp.status} without a JSON '{ctx.verify_field}' "
                    f"field: {excerpt(resp.body)}"
                )
                continue
            found.evidence.append(f"GET {url} → {resp.status} {ctx.verify_field}={value!r}")
            if str(value) == "3":
                found.support += 1
            else:
                found.problems.append(
                    f"process {process_id} shows {ctx.verify_field}={value!r} after 3, a late 2 "
                    "and duplicates; expected 3 (completed)"
                )
    return found
