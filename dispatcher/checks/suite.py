"""The built-in conformance suite: each check a small coroutine over real sends.

A check drives the same engine as `run`, with one attempt per notification (a conformant
receiver answers right the first time) and, except where speed is the point, a lenient deadline,
so that a receiver that is only slow fails the one check about speed and nothing else.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import USER_AGENT
from ..auth import Auth, NoAuth, api_key_header
from ..contract import NOTIFIED_STATUSES, RESULTS, STATE_FINISHED
from ..delivery import AttemptResult
from ..engine import Engine, EngineOptions
from ..errors import DeliveryError
from ..payloads import Notification, PayloadFactory, notification
from ..report import Trace
from ..settings import AuthSettings, Settings, ThrottleSettings, scrub, secret_values
from ..traffic import UNKNOWN_STATES, UNKNOWN_STATUSES
from ..transport import Transport
from .result import CheckResult

LENIENT_TIMEOUT_S = 30.0
MAX_EVIDENCE = 8


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

    def factory(self) -> PayloadFactory:
        # A receiver remembers what it was sent: were two checks to reuse a process id, the
        # second would be testing a duplicate without meaning to.
        if self.seed is None:
            return PayloadFactory()
        return PayloadFactory(random.Random(f"{self.seed}:{self.stream}").getrandbits(64))


@dataclass(frozen=True)
class Sent:
    """Attempts of one run of sends, with the words to explain them."""

    trace: Trace
    secrets: tuple[str, ...]

    def results(self) -> list[tuple[Notification, AttemptResult]]:
        return [(n, a) for n in self.trace.order for a in self.trace.attempts[id(n)]]

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
    timeout_s: float = LENIENT_TIMEOUT_S,
    concurrency: int = 1,
) -> Sent:
    settings = ctx.settings.model_copy(
        update={
            "max_attempts": 1,
            "timeout_s": timeout_s,
            "concurrency": concurrency,
            "throttle": ThrottleSettings(enabled=False),
            "max_rate": None,
        }
    )
    trace = Trace()
    engine = Engine(settings, options=EngineOptions(seed=ctx.seed), observer=trace, auth=auth)
    await engine.run(plan)
    return Sent(trace, secret_values(ctx.settings.auth))


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)


class Skipped(Exception):
    """The check does not apply to this receiver's settings; the message says why."""


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    body: Callable[[CheckContext], Awaitable[Findings]]

    async def run(self, ctx: CheckContext) -> CheckResult:
        started = time.perf_counter()
        try:
            found = await self.body(dataclasses.replace(ctx, stream=self.name))
        except Skipped as skip:
            return CheckResult(self.name, self.description, "skipped", str(skip))
        problems = found.problems
        message = "; ".join(problems[:3])
        if len(problems) > 3:
            message += f" (and {len(problems) - 3} more)"
        return CheckResult(
            self.name,
            self.description,
            "failed" if problems else "passed",
            message,
            tuple(found.evidence[:MAX_EVIDENCE]),
            time.perf_counter() - started,
        )


CHECKS: list[Check] = []


def check(
    name: str, description: str
) -> Callable[[Callable[[CheckContext], Awaitable[Findings]]], Check]:
    """Register a check; the suite runs them in the order they are defined."""

    def register(body: Callable[[CheckContext], Awaitable[Findings]]) -> Check:
        registered = Check(name, description, body)
        CHECKS.append(registered)
        return registered

    return register


def _expect_2xx(sent: Sent, auth: str) -> Findings:
    found = Findings()
    for note, result in sent.results():
        found.evidence.append(sent.describe(note, result, auth))
        if not result.ok:
            found.problems.append(f"{note.key} answered {result.outcome}, expected 2xx")
    return found


def _auth_label(settings: Settings) -> str:
    return f"auth {settings.auth.type}"


# The checks ----------------------------------------------------------------------------------


@check(
    "accepts-notified-statuses",
    "answers 2xx to every notified status of its flow (by-Unico: both payload profiles)",
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
)
async def answers_within_timeout(ctx: CheckContext) -> Findings:
    f = ctx.factory()
    timeout = ctx.settings.timeout_s
    plan = [notification(f.single(ctx.settings.flow)) for _ in range(ctx.batch)]
    sent = await _send(ctx, plan, timeout_s=timeout, concurrency=min(10, ctx.batch))
    latencies = sorted(r.latency_s for _, r in sent.results())
    p99 = latencies[max(0, int(len(latencies) * 0.99 + 0.5) - 1)]
    timeouts = [(n, r) for n, r in sent.results() if r.error == "timeout"]
    found = Findings()
    found.evidence.append(
        f"p99 {p99 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms over {len(latencies)} "
        f"notifications, timeout {timeout:g} s"
    )
    found.evidence += [sent.describe(n, r, _auth_label(ctx.settings)) for n, r in timeouts[:3]]
    if p99 >= timeout or timeouts:
        found.problems.append(
            f"p99 {p99 * 1000:.0f} ms is not below the {timeout:g} s timeout "
            f"({len(timeouts)} of {len(latencies)} timed out)"
        )
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
        header, _ = api_key_header(auth.api_key.get_secret_value())
        return f"a wrong {header}", _Forged({header: "webhook-sim-wrong-key"})
    return "a bearer token the provider never issued", _Forged(
        {"Authorization": "Bearer webhook-sim-forged-token"}
    )


@check(
    "rejects-bad-credentials",
    "answers 401 or 403 to a request with no credentials and to one with wrong credentials",
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
            if result.status not in (401, 403):
                found.problems.append(
                    f"with {label} it answered {result.outcome}, expected 401 or 403"
                )
    return found


@check(
    "idempotent-duplicates",
    "answers 2xx every time the same notification is delivered again (at-least-once)",
)
async def idempotent_duplicates(ctx: CheckContext) -> Findings:
    first = notification(ctx.factory().single(ctx.settings.flow))
    sent = await _send(ctx, [first, first.again(), first.again()])
    return _expect_2xx(sent, _auth_label(ctx.settings))


@check(
    "tolerates-unknown-status",
    "answers 2xx to a status or state the contract does not list yet",
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
)
async def tolerates_extra_field(ctx: CheckContext) -> Findings:
    payload = ctx.factory().single(ctx.settings.flow)
    payload["webhookSimExtraField"] = {"added": "by a future version of the platform"}
    return _expect_2xx(await _send(ctx, [notification(payload)]), _auth_label(ctx.settings))


@check("burst-500", "holds up under the platform's maximum of simultaneous sends")
async def burst(ctx: CheckContext) -> Findings:
    f = ctx.factory()
    plan = [notification(f.single(ctx.settings.flow)) for _ in range(ctx.burst)]
    sent = await _send(ctx, plan, concurrency=min(500, ctx.burst))
    results = sent.results()
    failed = [(n, r) for n, r in results if not r.ok]
    rate = len(failed) / len(results)
    outcomes = Counter(r.outcome for _, r in results)
    found = Findings()
    found.evidence.append(
        f"{len(results)} sends at once: " + ", ".join(f"{k}: {v}" for k, v in outcomes.items())
    )
    found.evidence += [sent.describe(n, r, _auth_label(ctx.settings)) for n, r in failed[:3]]
    if rate > ctx.burst_max_failure:
        found.problems.append(
            f"{len(failed)} of {len(results)} simultaneous sends failed ({rate:.1%}), "
            f"above the {ctx.burst_max_failure:.1%} allowed"
        )
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
    found = Findings()
    found.evidence += [
        sent.describe(n, r, _auth_label(ctx.settings)) for n, r in sent.results()[:4]
    ]
    async with Transport(timeout_s=LENIENT_TIMEOUT_S, user_agent=USER_AGENT) as transport:
        for process_id in dict.fromkeys(n.process_id for n in plan):
            url = ctx.verify_url.replace("{id}", process_id)
            try:
                resp = await transport.request("GET", url, headers={"Accept": "application/json"})
                value = _dig(json.loads(resp.body), ctx.verify_field)
            except DeliveryError as exc:
                found.problems.append(f"GET {url}: {exc.kind}")
                continue
            except (ValueError, KeyError):
                found.problems.append(
                    f"GET {url} answered {resp.status} without a JSON '{ctx.verify_field}' field"
                )
                continue
            found.evidence.append(f"GET {url} → {resp.status} {ctx.verify_field}={value!r}")
            if str(value) != "3":
                found.problems.append(
                    f"process {process_id} shows {ctx.verify_field}={value!r} after 3, a late 2 "
                    "and duplicates; expected 3 (completed)"
                )
    return found


async def _platform_state(transport: Transport, base: str) -> dict[str, Any]:
    resp = await transport.request("GET", f"{base}/_platform/processes", headers={})
    if resp.status != 200:
        raise DeliveryError(f"GET {base}/_platform/processes answered {resp.status}")
    state: dict[str, Any] = json.loads(resp.body)
    return state


async def _outage(transport: Transport, base: str, body: dict[str, str]) -> None:
    resp = await transport.request(
        "POST",
        f"{base}/_platform/outage",
        headers={"Content-Type": "application/json"},
        data=json.dumps(body).encode(),
    )
    if resp.status != 200:
        raise DeliveryError(f"POST {base}/_platform/outage answered {resp.status}")


@check(
    "fallback-polling",
    "when notifications stop, the integrator polls GetProcess and learns each final state "
    "within --fallback-within",
)
async def fallback_polling(ctx: CheckContext) -> Findings:
    if ctx.platform_url is None:
        raise Skipped("needs --platform URL of a running webhook-sim platform")
    base = ctx.platform_url.rstrip("/")
    found = Findings()
    async with Transport(timeout_s=LENIENT_TIMEOUT_S, user_agent=USER_AGENT) as transport:
        before = {p["id"] for p in (await _platform_state(transport, base))["processes"]}
        await _outage(transport, base, {"action": "start", "mode": "drop"})
        found.evidence.append("webhook outage started (notifications dropped)")
        try:
            for _ in range(ctx.fallback_count if ctx.fallback_create_url else 0):
                assert ctx.fallback_create_url is not None
                resp = await transport.request(
                    "POST", ctx.fallback_create_url, headers={"Content-Type": "application/json"},
                    data=b"{}",
                )  # fmt: skip
                found.evidence.append(f"POST {ctx.fallback_create_url} → {resp.status}")
                if not 200 <= resp.status < 300:
                    found.problems.append(f"the app did not start a verification: {resp.status}")
            # Let the processes created meanwhile finish while no notification goes out.
            waited = 0.0
            while waited < ctx.fallback_window_s:
                state = await _platform_state(transport, base)
                new = [p for p in state["processes"] if p["id"] not in before]
                if new and all(p["finished_at"] for p in new):
                    break
                await asyncio.sleep(0.1)
                waited += 0.1
        finally:
            await _outage(transport, base, {"action": "end"})
            found.evidence.append("webhook outage ended")
        missed: list[dict[str, Any]] = []
        waited = 0.0
        while True:
            state = await _platform_state(transport, base)
            missed = [
                p for p in state["processes"]
                if p["id"] not in before and p["fallback"]["webhook_missed"]
            ]  # fmt: skip
            learned = [p["fallback"]["learned_final_after_s"] for p in missed]
            if (missed and all(t is not None for t in learned)) or waited >= ctx.fallback_within_s:
                break
            await asyncio.sleep(0.2)
            waited += 0.2
    if not missed:
        found.problems.append(
            "no process finished during the outage: start verifications against the platform "
            "while the check runs (or give --fallback-create-url)"
        )
    for p in missed:
        after = p["fallback"]["learned_final_after_s"]
        polls = len(p["get_process_calls"])
        found.evidence.append(
            f"process {p['id']}: final {p['final']}, notification dropped, {polls} GetProcess "
            f"call(s), final state learned "
            + (f"{after:.1f} s after it finished" if after is not None else "never")
        )
        if after is None or after > ctx.fallback_within_s:
            found.problems.append(
                f"process {p['id']} was not polled within {ctx.fallback_within_s:g} s of finishing"
            )
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
    """Skipped verdicts for the checks an interrupt kept from running."""
    finished = {r.name for r in done}
    return [
        CheckResult(c.name, c.description, "skipped", why)
        for c in CHECKS
        if (not only or c.name in only) and c.name not in finished
    ]
