"""`webhook_sim_platform`: the platform mock (token, CreateProcess, GetProcess, notifications,
outages) for testing an integrator's polling fallback, each one served from a thread of its
own and stopped at the end of the test."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from .background import BackgroundLoop

if TYPE_CHECKING:
    from ..platform.api import RunningPlatform
    from ..report.model import PlatformReport, PlatformSection, PlatformSummary

# Processes finish in a fraction of a second and failed notifications are retried soon: a test
# waits for the fallback, not for the platform's production pace. The caller's options win.
TEST_DEFAULTS: dict[str, Any] = {"finish_after": "100ms..300ms", "interval": 0.05}


class MockPlatform:
    """One running platform mock: `url` is its API's base URL (what the integrator's app calls,
    and `check(platform=...)` takes); `report()` and `summary()` what it saw so far."""

    def __init__(self, webhook_url: str, seed: int | None, options: dict[str, Any]) -> None:
        from ..jobs import params
        from ..jobs.calls import flags_for
        from ..jobs.platform import PlatformJob

        given = {**TEST_DEFAULTS, "seed": seed, **options, "webhook_url": webhook_url}
        job = PlatformJob.from_flags(flags_for(params.PLATFORM, None, {**given, "port": 0}))
        self._job = job
        self._loop = BackgroundLoop("webhook-sim platform")
        try:
            self._running: RunningPlatform = self._loop.call(self._start())
        except BaseException:
            self._loop.close()
            raise
        self.url = self._running.url
        self.final: PlatformReport | None = None  # set by close()

    async def _start(self) -> RunningPlatform:
        from ..platform.api import start_platform

        job = self._job
        return await start_platform(job.settings, job.config, host="127.0.0.1", port=0)

    def report(self) -> PlatformSection:
        """Every process so far, its notifications and GetProcess calls, and the summary."""
        from ..report.model import PlatformSection

        return PlatformSection.model_validate(self._loop.run(self._running.platform.report))

    def summary(self) -> PlatformSummary:
        """Processes, finished, missed a webhook, of those polled, never learned..."""
        return self.report().summary

    def outage(self, mode: Literal["drop", "delay"] | None = "drop") -> None:
        """Start a webhook outage now (drop: never sent; delay: sent when it ends), or end the
        one under way with `mode=None`."""
        world = self._running.world
        if mode is None:
            self._loop.run(world.end_outage)
        else:
            self._loop.run(lambda: world.start_outage(mode))

    def close(self) -> PlatformReport:
        """Stop it (queued notifications get their grace) and return its final report."""
        if self.final is not None:
            return self.final
        from ..report import platform_report

        running = self._running
        try:
            self._loop.call(running.close())
            self.final = platform_report(
                running.platform.engine.metrics,
                self._job.settings,
                running.platform.report(),
                interrupted=None,
            )
        finally:
            self._loop.close()
        return self.final


class Platforms:
    """The `webhook_sim_platform` fixture: `start(webhook_url, **options)` a platform mock (the
    options of `webhook-sim platform`, by the same names); all are stopped after the test."""

    def __init__(self, seed: int | None) -> None:
        self._seed = seed
        self.started: list[MockPlatform] = []

    def start(self, webhook_url: str, **options: Any) -> MockPlatform:
        platform = MockPlatform(webhook_url, self._seed, options)
        self.started.append(platform)
        return platform

    def close(self) -> list[str]:
        """Stop every platform; one summary line each, for the test's report."""
        lines, errors = [], []
        for platform in self.started:
            try:  # one that fails to stop must not leave the others running
                s = platform.close().platform.summary
            except Exception as exc:
                errors.append(exc)
                continue
            lines.append(
                f"platform {platform.url}: {s.processes} processes, {s.finished} finished, "
                f"{s.webhook_missed} missed a webhook, {s.missed_and_polled} of those polled, "
                f"{s.missed_never_learned} never learned"
            )
        if errors:
            raise errors[0]
        return lines
