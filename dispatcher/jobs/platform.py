"""`platform`: the platform's API mock, notifying a webhook as processes finish."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..arrivals import parse_duration
from ..errors import ConfigError
from ..report import PlatformReport, platform_report
from ..settings import Settings, build_settings
from ..signals import SIGNALS, until_signalled
from .flags import Flags, serving, settings_flags, validated


def _finish_after(text: str) -> tuple[float, float]:
    low, sep, high = text.partition("..")
    finish = (
        parse_duration(low, flag="--finish-after"),
        parse_duration(high if sep else low, flag="--finish-after"),
    )
    if finish[1] < finish[0]:
        raise ConfigError(f"--finish-after = {text!r}: the range must not go backwards")
    return finish


def _outages(specs: list[str]) -> tuple[tuple[float, float], ...]:
    outages = []
    for spec in specs:
        start, plus, length = spec.partition("+")
        if not plus:
            raise ConfigError(f"--outage = {spec!r}: START+DURATION, e.g. 30s+60s")
        outages.append(
            (parse_duration(start, flag="--outage"), parse_duration(length, flag="--outage"))
        )
    return tuple(outages)


@dataclass(frozen=True)
class PlatformJob:
    settings: Settings
    config: Any  # PlatformConfig: imported with the platform, only when one is started
    host: str = "127.0.0.1"
    port: int = 8000

    def listening(self, url: str) -> str:
        return (f"platform listening on {url} (token: POST {url}/oauth2/token); webhooks to "
                f"{self.settings.url}; Ctrl-C to stop")  # fmt: skip

    @classmethod
    def from_flags(cls, flags: Flags) -> PlatformJob:
        from ..platform.api import PlatformConfig
        from ..platform.keys import load_keys
        from ..platform.world import Mix
        from ..receiver.serving import check_port

        check_port(flags["port"])
        keys = tuple(flags.get("service_account_key") or ())
        load_keys(keys)  # a bad key file stops here, before anything starts
        settings = build_settings(config=flags.get("config"), flags=settings_flags(flags))
        unico, client = flags.get("unico_mix"), flags.get("client_mix")
        config = validated(
            PlatformConfig,
            {
                "token_ttl_s": flags.get("token_ttl", 3600),
                "audience": flags.get("audience"),
                "apikey": flags.get("apikey"),
                "finish_after": _finish_after(flags.get("finish_after", "2s")),
                "outages": _outages(flags.get("outage") or []),
                "outage_mode": flags.get("outage_mode", "drop"),
                "seed": flags.get("seed"),
                "duplicates": flags.get("duplicates") or 0.0,
                "reorder": flags.get("reorder") or 0.0,
                "unico_mix": Mix.parse_unico(unico) if unico else None,
                "client_mix": Mix.parse_client(client) if client else None,
                "service_account_keys": keys,
                **serving(flags),
            },
            "platform",
        )
        return cls(settings, config, flags.get("host", "127.0.0.1"), flags["port"])


async def serve(
    job: PlatformJob,
    *,
    started: Callable[[str], None] = lambda url: None,
    stopping: Callable[[], None] = lambda: None,
) -> PlatformReport:
    """Serve until the first stop signal; then let queued notifications finish (a second
    signal cuts that short). `started` gets the API's URL once it listens."""
    from ..platform.api import start_platform

    running = await start_platform(job.settings, job.config, host=job.host, port=job.port)
    started(running.url)
    stop = asyncio.Event()

    def graceful() -> None:
        stop.set()
        stopping()

    def now() -> None:
        stop.set()
        running.platform.engine.stop(now=True)

    async def until_stopped() -> None:
        await stop.wait()
        await running.close()  # a second signal meanwhile cuts the grace short

    await until_signalled(until_stopped(), graceful=graceful, now=now)
    first = SIGNALS.first
    return platform_report(
        running.platform.engine.metrics,
        job.settings,
        running.platform.report(),
        interrupted=first.name if first else None,
    )


def stopping(first: signal.Signals | None) -> str:
    name = first.name if first else "signal"
    return f"{name}: stopping; queued notifications get up to 5 s (again to stop now)"


def summary_line(report: PlatformReport) -> str:
    s = report.platform.summary
    return (f"{s.processes} processes, {s.finished} finished; {s.webhook_missed} missed a "
            f"webhook, {s.missed_and_polled} of those were polled")  # fmt: skip
