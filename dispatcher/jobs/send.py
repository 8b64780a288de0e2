"""`send`: one notification, with the platform's retries."""

from __future__ import annotations

import signal
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..attemptlog import AttemptLog
from ..contract import STATE_FINISHED
from ..engine import Engine, EngineOptions, Observer, Outcome
from ..errors import ConfigError
from ..payloads import PayloadFactory, notification
from ..settings import SendOptions, Settings, build_settings, validate_flags
from ..traffic import given_body
from .flags import Flags, settings_flags
from .payload import attempt_log, payload_control


@dataclass(frozen=True)
class SendJob:
    settings: Settings
    payload: dict[str, Any]
    seed: int | None = None
    body: bytes | None = None  # --bodies: sent byte for byte
    log: Path | None = None  # --log

    @classmethod
    def from_flags(cls, flags: Flags) -> SendJob:
        settings = build_settings(config=flags.get("config"), flags=settings_flags(flags))
        process_id: str | None = flags.get("process_id")
        if process_id is not None:
            try:
                uuid.UUID(process_id)
            except ValueError:
                raise ConfigError(f"--process-id = {process_id!r}: must be a UUID") from None
        result = validate_flags(SendOptions, {"result": flags.get("result", "ok")}).result
        factory = PayloadFactory(flags.get("seed"))
        if settings.flow == "by-client":
            payload = factory.by_client(process_id=process_id, status=flags.get("status", 3))
        else:
            payload = factory.by_unico(
                process_id=process_id,
                state=flags.get("state", STATE_FINISHED),
                result=result,
                flow=flags.get("process_flow"),
                profile=settings.payload_profile,
            )
        control = payload_control(flags, settings.flow)
        if control.bodies:
            if len(control.bodies) > 1:
                raise ConfigError(f"--bodies = {flags['bodies']}: {len(control.bodies)} bodies; "
                                  "send sends one (run --bodies sends them all)")  # fmt: skip
            return cls(settings, given_body(control.bodies[0]).payload, flags.get("seed"),
                       control.bodies[0], attempt_log(flags))  # fmt: skip
        if control.edit is not None:
            payload = control.edit.apply(payload)
        return cls(settings, payload, flags.get("seed"), None, attempt_log(flags))

    def engine(self, observer: Observer | None = None) -> Engine:
        if self.log is not None:
            observer = AttemptLog.of(self.log, self.settings, other=observer)
        return Engine(self.settings, options=EngineOptions(seed=self.seed), observer=observer)


@dataclass(frozen=True)
class SendResult:
    """What became of the one notification `send` sent, after how many attempts."""

    outcome: Outcome
    attempts: int

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"

    def verdict(self, stopped_by: signal.Signals | None) -> tuple[str, int]:
        """The line `send` ends with, and its exit code."""
        tried = f"after {self.attempts} attempt(s)"
        if stopped_by is not None:
            return f"interrupted by {stopped_by.name} {tried}", 128 + int(stopped_by)
        if self.delivered:
            return f"[green]delivered[/green] {tried}", 0
        return f"[red]not delivered[/red] {tried}", 1


async def send(job: SendJob, engine: Engine | None = None) -> SendResult:
    engine = engine or job.engine()
    note = given_body(job.body) if job.body is not None else notification(job.payload)
    m = await engine.run([note])
    outcome: Outcome = "delivered" if m.delivered else "exhausted" if m.exhausted else "cancelled"
    return SendResult(outcome, m.attempts_total)
