"""What a check is: a small coroutine over real sends that returns its `Findings`, and the
rules that turn findings into a verdict.

A verdict is only worth something if a pass rests on what the receiver actually answered. So
every check names the evidence it `needs`, and `Check.run` fails it when that evidence is
missing: a connection that is refused, reset, never answered or answered with something that is
not HTTP is never read as a pass, and a check that observed nothing in favour of a pass fails.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DeliveryError
from ..payloads import PayloadFactory
from ..settings import Settings
from .result import CheckResult, Status

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
    denied_source: str | None = None  # a local address the receiver must refuse: denied-source
    log: Path | None = None  # --log: every attempt of every check, one JSON line each
    # The deadline of every request whose speed is not what is being checked.
    lenient_timeout_s: float = LENIENT_TIMEOUT_S

    def factory(self) -> PayloadFactory:
        # A receiver remembers what it was sent: were two checks to reuse a process id, the
        # second would be testing a duplicate without meaning to.
        if self.seed is None:
            return PayloadFactory()
        return PayloadFactory(random.Random(f"{self.seed}:{self.stream}").getrandbits(64))


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


def first_few(items: Sequence[str]) -> str:
    text = "; ".join(items[:3])
    return text + (f" (and {len(items) - 3} more)" if len(items) > 3 else "")


CheckBody = Callable[[CheckContext], Awaitable[Findings]]


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    body: CheckBody
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
            parts.append(f"no evidence: {first_few(missing)}; this check needs {self.needs}")
        if found.problems:
            parts.append(first_few(found.problems))
        return "failed", "; ".join(parts)


def check(name: str, description: str, *, needs: str) -> Callable[[CheckBody], Check]:
    """Make a check of a coroutine; the suite (`suite.CHECKS`) says which run, in what order."""

    def make(body: CheckBody) -> Check:
        return Check(name, description, body, needs)

    return make
