"""`webhook_sim`: `dispatcher.api` bound for one test, with defaults suited to tests (retries a
few milliseconds apart, a fixed seed) under the caller's own options, and every check it runs
kept for the session's JUnit report."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .. import api
from ..checks.result import CheckResult
from ..jobs.calls import blocking
from ..jobs.check import CheckRun
from ..jobs.load import LoadResult
from ..jobs.run import RunResult
from ..jobs.send import SendResult

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..api import CheckOptions, LoadOptions, RunOptions, SendOptions

AnyResult = SendResult | RunResult | CheckRun | LoadResult

# Retries a test can wait for: 10 ms, doubling up to 100 ms (the platform's are 1 s to 60 s).
RETRY_DEFAULTS: dict[str, Any] = {"interval": 0.01, "max_interval": 0.1}


@dataclass(frozen=True)
class Recorded:
    """Every check run through the fixture in the session, by test: the JUnit report's cases."""

    cases: list[tuple[str, CheckResult]]

    def junit(self) -> str:
        from ..report import junit_xml

        results = [replace(r, name=f"{node}::{r.name}") for node, r in self.cases]
        duration = sum(r.duration_s for r in results)
        return junit_xml("webhook-sim", results, duration_s=duration)


class WebhookSim:
    """`send`, `run`, `check` and `load` as in `dispatcher.api` (awaitable, and `*_sync` for a
    test without an event loop), with `seed` and short retry intervals filled in unless given."""

    def __init__(self, seed: int | None, node: str, recorded: Recorded) -> None:
        self.seed = seed
        self._node = node
        self._recorded = recorded
        self._calls = 0

    def _defaults(self, retrying: bool = True) -> dict[str, Any]:
        """Short retries, and a seed of this call's own: derived from the test's seed, its id
        and the call's number, so that runs repeat exactly, while two calls (or two tests
        sharing an app) never send the same process ids, which the app would rightly take for
        duplicates."""
        self._calls += 1
        seed = self.seed
        if seed is not None:
            digest = hashlib.sha256(f"{seed}:{self._node}:{self._calls}".encode()).digest()
            seed = int.from_bytes(digest[:8], "big")
        return {**(RETRY_DEFAULTS if retrying else {}), "seed": seed}

    async def send(self, url: str | None = None, **options: Unpack[SendOptions]) -> SendResult:
        merged: dict[str, Any] = {**self._defaults(), **options}
        return await api.send(url, **merged)

    async def run(self, url: str | None = None, **options: Unpack[RunOptions]) -> RunResult:
        merged: dict[str, Any] = {**self._defaults(), **options}
        return await api.run(url, **merged)

    async def check(self, url: str | None = None, **options: Unpack[CheckOptions]) -> CheckRun:
        merged: dict[str, Any] = {**self._defaults(retrying=False), **options}
        result = await api.check(url, **merged)
        self._recorded.cases.extend((self._node, r) for r in result.results)
        return result

    async def load(
        self, url: str | None = None, *, rate: float | str | None = None,
        **options: Unpack[LoadOptions],
    ) -> LoadResult:  # fmt: skip
        merged: dict[str, Any] = {**self._defaults(), **options}
        return await api.load(url, rate=rate, **merged)

    def send_sync(self, url: str | None = None, **options: Unpack[SendOptions]) -> SendResult:
        return blocking(self.send(url, **options))

    def run_sync(self, url: str | None = None, **options: Unpack[RunOptions]) -> RunResult:
        return blocking(self.run(url, **options))

    def check_sync(self, url: str | None = None, **options: Unpack[CheckOptions]) -> CheckRun:
        return blocking(self.check(url, **options))

    def load_sync(
        self, url: str | None = None, *, rate: float | str | None = None,
        **options: Unpack[LoadOptions],
    ) -> LoadResult:  # fmt: skip
        return blocking(self.load(url, rate=rate, **options))

    @staticmethod
    def assert_passed(result: AnyResult) -> None:
        """Raise AssertionError saying what failed (for a check: each failed check with its
        evidence) unless `result` passed (a send: unless it was delivered)."""
        ok = result.delivered if isinstance(result, SendResult) else result.passed
        if not ok:
            raise AssertionError(describe(result))


def describe(result: AnyResult) -> str:
    """What went wrong, as an assertion message."""
    if isinstance(result, CheckRun):
        return result.summary()
    if isinstance(result, SendResult):
        return f"the notification was {result.outcome} after {result.attempts} attempt(s)"
    lines = [f"FAIL {v.name}: {v.message}" for v in result.verdicts if v.status == "failed"]
    if isinstance(result, LoadResult):
        lines += [f"worker failed: {line}" for line in result.failed]
    n = result.report.notifications
    lines.append(f"{n.delivered} of {n.scheduled} notifications delivered")
    return "\n".join(lines)
