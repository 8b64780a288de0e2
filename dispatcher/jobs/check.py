"""`check`: the conformance suite against a receiver, a pass/fail verdict for CI."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..binding import family_of, source_address
from ..checks.result import CheckResult, tally
from ..checks.suite import CheckContext, names, not_run, run_checks
from ..errors import ConfigError
from ..report import CheckReport, check_report
from ..settings import Settings, build_settings, redact_url, shown, validate_url
from ..signals import SIGNALS
from .flags import Flags, settings_flags
from .payload import attempt_log


def _url(flag: str, value: str | None) -> None:
    """The same rules as --url (absolute http(s), no credentials, a valid host)."""
    if value is None:
        return
    try:
        validate_url(value)
    except ValueError as exc:
        raise ConfigError(f"{flag} = {redact_url(value)!r}: {exc}") from None


def _between(flag: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{flag} = {value}: must be between {low:g} and {high:g}")


def _denied_source(value: str | None, settings: Settings) -> str | None:
    """--denied-source as an address this machine can send from, in the receiver's family
    when the URL gives its address (the same rules as --source-address)."""
    if value is None:
        return None
    try:
        address = source_address(value.strip())
    except ValueError as exc:
        raise ConfigError(f"--denied-source = {shown(value)}: {exc}") from None
    host = urlsplit(settings.url).hostname or ""
    with contextlib.suppress(ValueError):  # a host name: either family may reach it
        if family_of(host) != family_of(address):
            raise ConfigError(
                f"--denied-source = {shown(value)}: not of the same family as the url's host "
                f"{host}, so no connection could come from it"
            )
    return address


def _context(flags: Flags) -> CheckContext:
    known = names()
    for name in flags.get("only") or ():
        if name not in known:
            raise ConfigError(f"--only = {name!r}: no such check (allowed: {', '.join(known)})")
    _between("--burst", flags["burst"], 1, 500)
    _between("--batch", flags["batch"], 1, 100_000)
    _between("--burst-max-failure", flags["burst_max_failure"], 0, 1)
    for name in ("fallback_within", "fallback_window"):
        if not 0 < flags[name] <= 3600:
            raise ConfigError(
                f"--{name.replace('_', '-')} = {flags[name]}: must be more than 0 seconds, "
                "at most 3600"
            )
    _between("--fallback-count", flags["fallback_count"], 1, 1000)
    verify_url: str | None = flags.get("verify_url")
    _url("--platform", flags.get("platform"))
    _url("--fallback-create-url", flags.get("fallback_create_url"))
    _url("--verify-url", verify_url.replace("{id}", "id") if verify_url else None)
    if verify_url is not None and "{id}" not in verify_url:
        raise ConfigError(f"--verify-url = {verify_url!r}: must contain {{id}}")
    settings = build_settings(config=flags.get("config"), flags=settings_flags(flags))
    return CheckContext(
        settings,
        seed=flags.get("seed"),
        batch=flags["batch"],
        burst=flags["burst"],
        burst_max_failure=flags["burst_max_failure"],
        verify_url=verify_url,
        verify_field=flags["verify_field"],
        platform_url=flags.get("platform"),
        fallback_within_s=flags["fallback_within"],
        fallback_create_url=flags.get("fallback_create_url"),
        fallback_count=flags["fallback_count"],
        fallback_window_s=flags["fallback_window"],
        denied_source=_denied_source(flags.get("denied_source"), settings),
        log=attempt_log(flags),
    )


@dataclass(frozen=True)
class CheckJob:
    context: CheckContext
    only: tuple[str, ...] = ()  # the checks to run; all when empty

    @classmethod
    def from_flags(cls, flags: Flags) -> CheckJob:
        return cls(_context(flags), tuple(flags.get("only") or ()))


@dataclass(frozen=True)
class CheckRun:
    """Every check's verdict, in the suite's order, and the check report."""

    results: tuple[CheckResult, ...]
    report: CheckReport
    only: tuple[str, ...] = ()  # the checks asked for by name

    def __repr__(self) -> str:
        return f"CheckRun(passed={self.passed}, {tally(r.status for r in self.results)})"

    @property
    def passed(self) -> bool:
        """A pass needs evidence: no check failed, at least one passed, and none asked for by
        name was skipped. (The command line's exit code keeps its documented rule, where a
        skipped check is not a failed one: `report.passed`.)"""
        return self.report.passed and not self._unproven()

    def _unproven(self) -> list[str]:
        """Why the checks prove nothing, when they do not."""
        why = [f"SKIP {r.name}: {r.message} (asked for by name)"
               for r in self.results if r.status == "skipped" and r.name in self.only]  # fmt: skip
        if not any(r.status == "passed" for r in self.results):
            why.append("no check passed: nothing shows the receiver meets the contract")
        return why

    @property
    def duration_s(self) -> float:
        return self.report.duration_s

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.status == "failed")

    def summary(self) -> str:
        """Each failed check with why and its evidence, then the counts: what an assertion
        message should say."""
        lines = []
        for r in self.failed:
            lines.append(f"FAIL {r.name}: {r.message}")
            lines += [f"    · {line}" for line in r.evidence]
        if not self.failed:
            lines += self._unproven()
        lines.append(tally(r.status for r in self.results))
        return "\n".join(lines)


async def check(job: CheckJob, into: list[CheckResult] | None = None) -> None:
    """Run the checks, appending each verdict to `into` as it comes (an interrupted run keeps
    what it had)."""
    await run_checks(job.context, job.only, into=into)


def finish(job: CheckJob, results: list[CheckResult], started: float) -> CheckRun:
    """The verdicts and report of a suite that ran (or was interrupted) since `started`
    (`time.perf_counter()`); the checks an interrupt kept from finishing are skipped."""
    interrupted = SIGNALS.first
    if interrupted is not None:
        why = f"interrupted by {interrupted.name}"
        results = results + not_run(job.only, results, why, job.context)
    report = check_report(
        results,
        job.context.settings,
        duration_s=time.perf_counter() - started,
        interrupted=interrupted.name if interrupted else None,
    )
    return CheckRun(tuple(results), report, job.only)
