"""The built-in conformance suite: each check a small coroutine over real sends.

A check drives the same engine as `run`, with one attempt per notification (a conformant
receiver answers right the first time) and, except where speed is the point, a lenient deadline,
so that a receiver that is only slow fails the one check about speed and nothing else.

A verdict is only worth something if a pass rests on what the receiver actually answered. So
every check names the evidence it `needs`, and `Check.run` fails it when that evidence is
missing: a connection that is refused, reset, never answered or answered with something that is
not HTTP is never read as a pass, and a check that observed nothing in favour of a pass fails.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from .. import USER_AGENT
from ..auth import Auth, NoAuth
from ..contract import NOTIFIED_STATUSES, RESULTS, STATE_FINISHED
from ..credentials import split_api_key
from ..delivery import AttemptResult
from ..engine import Engine, EngineOptions
from ..errors import DeliveryError
from ..payloads import Notification, PayloadFactory, notification
from ..report import Trace
from ..settings import AuthSettings, Settings, ThrottleSettings, scrub, secret_values
from ..traffic import UNKNOWN_STATES, UNKNOWN_STATUSES
from ..transport import Response, Transport
from .result import CheckResult, Status

LENIENT_TIMEOUT_S = 30.0
MAX_EVIDENCE = 8

# What a planned notification the engine never attempted looks like: no answer, so it can
# only ever count against a pass.
_NEVER_SENT = AttemptResult(0, None, "not-sent", 0.0, detail="never attempted")


@dataclass(frozen=True)
class CheckContext:
    settings: Settings
    seed: int | None = None
    batch: int = 100  # notifications in the latency batch
    burst: int = 500  # simultaneous sends in the burst
    burst_max_failure: float = 0.01
    verify_url: str | None = None  # template with {id}
    verify_field: str = "status"
    stream: str = ""  # the running check's name: each check gets its own process ids
    platform_url: str | None = None  # a running `webhook-sim platform`, for fallback-polling
    fallback_within_s: float = 30.0
    fallback_create_url: str | None = None  # the integrator app's "start a verification" hook
    fallback_count: int = 3
    fallback_window_s: float = 10.0
    # The deadline of every request whose speed is not what is being checked.
    lenient_timeout_s: float = LENIENT_TIMEOUT_S

    def factory(self) -> PayloadFactory:
        # A receiver remembers what it was sent: were two checks to reuse a process id, the
        # second would be testing a duplicate without meaning to.
        if self.seed is None:
            return PayloadFactory()
        return PayloadFactory(random.Random(f"{self.seed}:{self.stream}").getrandbits(64))


@dataclass(frozen=True)
class Sent:
    """Attempts of one run of sends, with the words to explain them."""

    plan: tuple[Notification, ...]
    trace: Trace
    secrets: tuple[str, ...]

    def results(self) -> list[tuple[Notification, AttemptResult]]:
        """One row per planned notification, in plan order: its last attempt."""
        rows = []
        for note in self.plan:
            attempts = self.trace.attempts.get(id(note))
            rows.append((note, attempts[-1] if attempts else _NEVER_SENT))
        return rows

    def describe(self, note: Notification, result: AttemptResult, auth: str) -> str:
        # Only the receiver's words are scrubbed: it may echo a credential back.
        answer = result.outcome + (
            f" {scrub(result.detail, self.secrets)}" if result.detail else ""
        )
        took = f"{result.latency_s * 1000:.0f} ms"
        return f"sent {note.body.decode()} ({auth}) → got {answer} in {took}"


async def _send(
    ctx: CheckContext,
    plan: Sequence[Notification],
    *,
    auth: Auth | None = None,
    timeout_s: float | None = None,
    concurrency: int = 1,
) -> Sent:
    settings = ctx.settings.model_copy(
        update={
            "max_attempts": 1,
            "timeout_s": ctx.lenient_timeout_s if timeout_s is None else timeout_s,
            "concurrency": concurrency,
            "throttle": ThrottleSettings(enabled=False),
            "max_rate": None,
        }
    )
    trace = Trace()
    engine = Engine(settings, options=EngineOptions(seed=ctx.seed), observer=trace, auth=auth)
    await engine.run(plan)
    return Sent(tuple(plan), trace, secret_values(ctx.settings.auth))


@dataclass
class Findings:
    """What one check saw. It passes only with no problem, nothing missing, and support."""

    problems: list[str] = field(default_factory=list)  # the receiver broke the contract
    missing: list[str] = field(default_factory=list)  # evidence needed and not obtained
    evidence: list[str] = field(default_factory=list)  # what was sent and what came back
    support: int = 0  # observations in favour of a pass: answers judged, values read

    def lacking(self, why: str) -> Findings:
        self.missing.append(why)
        self.evidence.append(why)
        return self


class Skipped(Exception):
    """The check does not apply to this receiver's settings; the message says why."""


class Unusable(Exception):
    """A request a check depends on got no usable answer; the message names the request and
    what came back, or what kept an answer from coming."""


def _tally(counts: Counter[str]) -> str:
    return ", ".join(f"{kind}: {n}" for kind, n in counts.most_common())


def _first(items: Sequence[str]) -> str:
    text = "; ".join(items[:3])
    return text + (f" (and {len(items) - 3} more)" if len(items) > 3 else "")


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    body: Callable[[CheckContext], Awaitable[Findings]]
    needs: str  # the evidence a pass rests on, named when a failure is for lack of it

    async def run(self, ctx: CheckContext) -> CheckResult:
        started = time.perf_counter()
        try:
            found = await self.body(dataclasses.replace(ctx, stream=self.name))
        except Skipped as skip:
            return CheckResult(self.name, self.description, "skipped", str(skip), needs=self.needs)
        except (DeliveryError, Unusable) as exc:
            found = Findings().lacking(f"no usable answer: {exc}")
        except Exception as exc:
            # One broken check must not cost the others their verdicts, nor the JUnit and JSON
            # reports: it fails (never passes) and says what went wrong.
            found = Findings().lacking(f"the check stopped on {type(exc).__name__}: {exc}")
        status, message = self._verdict(found)
        return CheckResult(
            self.name,
            self.description,
            status,
            message,
            tuple(found.evidence[:MAX_EVIDENCE]),
            time.perf_counter() - started,
            self.needs,
        )

    def _verdict(self, found: Findings) -> tuple[Status, str]:
        missing = list(found.missing)
        if not missing and not found.problems and found.support == 0:
            missing.append("nothing was observed in favour of a pass")
        if not missing and not found.problems:
            return "passed", ""
        parts = []
        if missing:
            parts.append(f"no evidence: {_first(missing)}; this check needs {self.needs}")
        if found.problems:
            parts.append(_first(found.problems))
        return "failed", "; ".join(parts)


CHECKS: list[Check] = []


def check(
    name: str, description: str, *, needs: str
) -> Callable[[Callable[[CheckContext], Awaitable[Findings]]], Check]:
    """Register a check; the suite runs them in the order they are defined."""

    def register(body: Callable[[CheckContext], Awaitable[Findings]]) -> Check:
        registered = Check(name, description, body, needs)
        CHECKS.append(registered)
        return registered

    return register


def _unanswered(rows: Sequence[tuple[Notification, AttemptResult]], what: str) -> str | None:
    """'k of n WHAT got no HTTP answer (refused: k)', or None when every one was answered."""
    dead = Counter(r.outcome for _, r in rows if r.status is None)
    if not dead:
        return None
    return f"{dead.total()} of {len(rows)} {what} got no HTTP answer ({_tally(dead)})"


def _expect_2xx(sent: Sent, auth: str) -> Findings:
    found = Findings()
    rows = sent.results()
    for note, result in rows:
        found.evidence.append(sent.describe(note, result, auth))
        if result.ok:
            found.support += 1
        elif result.status is not None:
            found.problems.append(f"{note.key} answered {result.outcome}, expected 2xx")
    if gap := _unanswered(rows, "notifications"):
        found.missing.append(gap)
    return found


def _auth_label(settings: Settings) -> str:
    return f"auth {settings.auth.type}"


def _excerpt(body: bytes, limit: int = 120) -> str:
    text = " ".join(body[:limit].decode("utf-8", "replace").split())
    return repr(text + ("…" if len(body) > limit else ""))


async def _request(
    transport: Transport,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
) -> Response:
    try:
        return await transport.request(method, url, headers=headers or {}, data=data)
    except DeliveryError as exc:
        raise Unusable(f"{method} {url}: no HTTP answer ({exc.kind}: {exc})") from exc


# The checks ----------------------------------------------------------------------------------


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
    return _expect_2xx(await _send(ctx, plan), _auth_label(ctx.settings))


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
    sent = await _send(ctx, plan, timeout_s=timeout, concurrency=max(1, min(10, ctx.batch)))
    auth = _auth_label(ctx.settings)
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
            f"{len(broken)} of {len(rows)} notifications got no HTTP answer ({_tally(kinds)})"
        )
    found.evidence += [sent.describe(n, r, auth) for n, r in (timeouts[:3] + broken[:3])]
    return found


class _Forged:
    """Credentials that look right and are not: the receiver must refuse them."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    async def headers(self, transport: Transport) -> dict[str, str]:
        return dict(self._headers)

    def unauthorized(self, sent: dict[str, str]) -> bool:
        return False


def _wrong_credentials(auth: AuthSettings) -> tuple[str, Auth]:
    if auth.type == "basic" and auth.basic is not None:
        user = auth.basic.get_secret_value().partition(":")[0]
        token = base64.b64encode(f"{user}:webhook-sim-wrong-password".encode()).decode()
        return "a wrong password", _Forged({"Authorization": f"Basic {token}"})
    if auth.type == "api-key" and auth.api_key is not None:
        header, _ = split_api_key(auth.api_key.get_secret_value())
        return f"a wrong {header}", _Forged({header: "webhook-sim-wrong-key"})
    return "a bearer token the provider never issued", _Forged(
        {"Authorization": "Bearer webhook-sim-forged-token"}
    )


@check(
    "rejects-bad-credentials",
    "answers 401 or 403 to a request with no credentials and to one with wrong credentials",
    needs="an actual 401 or 403 HTTP answer to each of the two requests",
)
async def rejects_bad_credentials(ctx: CheckContext) -> Findings:
    if ctx.settings.auth.type == "none":
        raise Skipped("auth type is none: there are no credentials to get wrong")
    f = ctx.factory()
    found = Findings()
    wrong_label, wrong = _wrong_credentials(ctx.settings.auth)
    for label, auth in (("no credentials", NoAuth()), (wrong_label, wrong)):
        sent = await _send(ctx, [notification(f.single(ctx.settings.flow))], auth=auth)
        for note, result in sent.results():
            found.evidence.append(sent.describe(note, result, label))
            if result.status is None:
                found.missing.append(
                    f"with {label} it got no HTTP answer ({result.outcome}), and a connection "
                    "that fails is not a rejection"
                )
            elif result.status in (401, 403):
                found.support += 1
            else:
                found.problems.append(
                    f"with {label} it answered {result.outcome}, expected 401 or 403"
                )
    return found


@check(
    "idempotent-duplicates",
    "answers 2xx every time the same notification is delivered again (at-least-once)",
    needs="a 2xx answer to each of the three deliveries",
)
async def idempotent_duplicates(ctx: CheckContext) -> Findings:
    first = notification(ctx.factory().single(ctx.settings.flow))
    sent = await _send(ctx, [first, first.again(), first.again()])
    return _expect_2xx(sent, _auth_label(ctx.settings))


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
    return _expect_2xx(await _send(ctx, plan), _auth_label(ctx.settings))


@check(
    "tolerates-extra-field",
    "answers 2xx to a notification carrying a field it does not know",
    needs="a 2xx answer to the notification with the extra field",
)
async def tolerates_extra_field(ctx: CheckContext) -> Findings:
    payload = ctx.factory().single(ctx.settings.flow)
    payload["webhookSimExtraField"] = {"added": "by a future version of the platform"}
    return _expect_2xx(await _send(ctx, [notification(payload)]), _auth_label(ctx.settings))


@check(
    "burst-500",
    "holds up under the platform's maximum of simultaneous sends",
    needs="2xx answers to all but --burst-max-failure of the simultaneous sends",
)
async def burst(ctx: CheckContext) -> Findings:
    f = ctx.factory()
    plan = [notification(f.single(ctx.settings.flow)) for _ in range(ctx.burst)]
    sent = await _send(ctx, plan, concurrency=max(1, min(500, ctx.burst)))
    rows = sent.results()
    failed = [(n, r) for n, r in rows if not r.ok]
    rate = len(failed) / len(rows) if rows else 1.0
    outcomes = Counter(r.outcome for _, r in rows)
    found = Findings(support=len(rows) - len(failed))
    found.evidence.append(f"{len(rows)} sends at once: {_tally(outcomes)}")
    found.evidence += [sent.describe(n, r, _auth_label(ctx.settings)) for n, r in failed[:3]]
    if rate > ctx.burst_max_failure:
        found.problems.append(
            f"{len(failed)} of {len(rows)} simultaneous sends failed ({rate:.1%}), "
            f"above the {ctx.burst_max_failure:.1%} allowed"
        )
    if rows and all(r.status is None for _, r in rows):
        # However much failure is tolerated, a burst nobody answered says nothing.
        found.missing.append(f"none of the {len(rows)} sends got an HTTP answer")
    return found


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
    sent = await _send(ctx, plan)
    rows = sent.results()
    found = Findings()
    found.evidence += [sent.describe(n, r, _auth_label(ctx.settings)) for n, r in rows[:4]]
    # Unless the late 2 reached the receiver after its 3 did, its view proves nothing.
    if gap := _unanswered(rows, "deliveries"):
        found.missing.append(gap)
    process_ids = list(dict.fromkeys(n.process_id for n in plan))
    for process_id in process_ids:
        threes = [r for n, r in rows if n.process_id == process_id and n.key == "3"]
        answered = [r.outcome for r in threes if r.status is not None]
        if answered and not any(r.ok for r in threes):
            found.missing.append(
                f"process {process_id}: its 3 was answered {', '.join(answered)}, never 2xx"
            )
    async with Transport(timeout_s=ctx.lenient_timeout_s, user_agent=USER_AGENT) as transport:
        for process_id in process_ids:
            url = ctx.verify_url.replace("{id}", process_id)
            try:
                resp = await _request(transport, "GET", url, headers={"Accept": "application/json"})
            except Unusable as exc:
                found.lacking(str(exc))
                continue
            if not 200 <= resp.status < 300:
                found.lacking(f"GET {url} answered {resp.status} {_excerpt(resp.body)}")
                continue
            try:
                value = _dig(json.loads(resp.body), ctx.verify_field)
            except (ValueError, KeyError):
                found.lacking(
                    f"GET {url} answered {resp.status} without a JSON '{ctx.verify_field}' "
                    f"field: {_excerpt(resp.body)}"
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
    resp = await _request(transport, "GET", url)
    if resp.status != 200:
        raise Unusable(f"GET {url} answered {resp.status} {_excerpt(resp.body)}")
    try:
        return _PlatformState.model_validate_json(resp.body).processes
    except ValidationError:
        raise Unusable(
            f"GET {url} answered {resp.status} but not with webhook-sim platform's process "
            f"list: {_excerpt(resp.body)}"
        ) from None


async def _outage(transport: Transport, base: str, body: dict[str, str]) -> None:
    url = f"{base}/_platform/outage"
    resp = await _request(
        transport,
        "POST",
        url,
        headers={"Content-Type": "application/json"},
        data=json.dumps(body).encode(),
    )
    if resp.status != 200:
        raise Unusable(f"POST {url} answered {resp.status} {_excerpt(resp.body)}")


async def _during_outage(
    ctx: CheckContext, transport: Transport, base: str, before: set[str], found: Findings
) -> None:
    for _ in range(ctx.fallback_count if ctx.fallback_create_url else 0):
        assert ctx.fallback_create_url is not None
        resp = await _request(
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


async def run_checks(
    ctx: CheckContext, only: Sequence[str] = (), *, into: list[CheckResult] | None = None
) -> list[CheckResult]:
    """Run the suite (or the named checks) one after another, in the suite's order, appending
    each verdict to `into` as it comes, so an interrupted run keeps what it had."""
    results = into if into is not None else []
    for c in CHECKS:
        if not only or c.name in only:
            results.append(await c.run(ctx))
    return results


def not_run(only: Sequence[str], done: Sequence[CheckResult], why: str) -> list[CheckResult]:
    """Skipped verdicts for the checks an interrupt kept from finishing: the first of them was
    under way (its verdict would rest on part of its evidence, so it has none), the rest never
    started."""
    finished = {r.name for r in done}
    left = [c for c in CHECKS if (not only or c.name in only) and c.name not in finished]
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
