"""How checks send and read answers: a plan of notifications through the same engine as `run`,
one attempt each (a conformant receiver answers right the first time) under a lenient
deadline, and the words that explain each attempt in a verdict's evidence."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..attemptlog import AttemptLog
from ..auth import Auth
from ..delivery import AttemptResult
from ..engine import Engine, EngineOptions
from ..errors import DeliveryError
from ..payloads import Notification
from ..redact import REDACTOR
from ..report import Trace
from ..settings import Settings, ThrottleSettings, scrub, secret_values
from ..transport import Response, Transport
from .core import CheckContext, Findings, Unusable

# What a planned notification the engine never attempted looks like: no answer, so it can
# only ever count against a pass.
_NEVER_SENT = AttemptResult(0, None, "not-sent", 0.0, detail="never attempted")


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


async def send(
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
    observer = AttemptLog.of(ctx.log, settings, other=trace) if ctx.log is not None else trace
    engine = Engine(settings, options=EngineOptions(seed=ctx.seed), observer=observer, auth=auth)
    await engine.run(plan)
    return Sent(tuple(plan), trace, secret_values(ctx.settings.auth))


def tally(counts: Counter[str]) -> str:
    return ", ".join(f"{kind}: {n}" for kind, n in counts.most_common())


def unanswered(rows: Sequence[tuple[Notification, AttemptResult]], what: str) -> str | None:
    """'k of n WHAT got no HTTP answer (refused: k)', or None when every one was answered."""
    dead = Counter(r.outcome for _, r in rows if r.status is None)
    if not dead:
        return None
    return f"{dead.total()} of {len(rows)} {what} got no HTTP answer ({tally(dead)})"


def expect_2xx(sent: Sent, auth: str) -> Findings:
    found = Findings()
    rows = sent.results()
    for note, result in rows:
        found.evidence.append(sent.describe(note, result, auth))
        if result.ok:
            found.support += 1
        elif result.status is not None:
            found.problems.append(f"{note.key} answered {result.outcome}, expected 2xx")
    if gap := unanswered(rows, "notifications"):
        found.missing.append(gap)
    return found


def auth_label(settings: Settings) -> str:
    return f"auth {settings.auth.type}"


def excerpt(body: bytes, limit: int = 120) -> str:
    """The start of a body a check quotes as evidence, every secret masked: before it is cut,
    so a secret the receiver echoed across the cut leaves none of its characters behind."""
    window = body[: limit + REDACTOR.margin]
    text = REDACTOR.scrub(" ".join(window.decode("utf-8", "replace").split()))
    more = len(text) > limit or len(body) > len(window)
    return repr(text[:limit] + ("…" if more else ""))


async def request(
    transport: Transport,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
) -> Response:
    """One request a check depends on (not a notification); no HTTP answer is `Unusable`."""
    try:
        return await transport.request(method, url, headers=headers or {}, data=data)
    except DeliveryError as exc:
        raise Unusable(f"{method} {url}: no HTTP answer ({exc.kind}: {exc})") from exc
