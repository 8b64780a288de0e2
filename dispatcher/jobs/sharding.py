"""The shard contract of `run` and `load`, read from the flags once: which shard this process
is, the run it belongs to, when it starts, and where its mergeable result goes. Also how many
worker processes a shard uses, and the seed every shard and worker agrees on."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .. import __version__
from ..arrivals import parse_duration
from ..errors import ConfigError
from ..load import LoadPlan
from ..metrics import Metrics, to_wire
from ..redact import REDACTOR
from ..report.shard import ShardPart, ShardResult
from ..settings import Settings, shown
from ..shards import SHARD_ENV, WHOLE, Shard, fingerprint, parse_start_at, rfc3339, seed_of
from .flags import Flags

MAX_WORKERS = 64


@dataclass(frozen=True)
class Sharding:
    shard: Shard = WHOLE
    run_id: str | None = None
    start_at: float | None = None  # unix seconds
    tolerance_s: float = 1.0
    out: Path | None = None  # Path("-"): stdout

    @classmethod
    def from_flags(cls, flags: Flags, environ: Mapping[str, str] = os.environ) -> Sharding:
        text: str | None = flags.get("shard")
        shard = WHOLE
        if text is not None:
            shard = Shard.parse(text)
        elif environ.get(SHARD_ENV):
            shard = Shard.parse(environ[SHARD_ENV], source=SHARD_ENV)
        run_id: str | None = flags.get("run_id")
        if run_id is not None and not (0 < len(run_id) <= 200 and run_id.isprintable()):
            raise ConfigError(f"--run-id = {shown(run_id)}: 1 to 200 printable characters")
        out: Path | None = flags.get("shard_out")
        if shard.count > 1 and run_id is None:
            raise ConfigError(
                f"--shard {shard} needs --run-id ID, the same on every shard: it names the run "
                "their results merge into (webhook-sim plan writes one)"
            )
        if out is not None and run_id is None:
            run_id = uuid.uuid4().hex[:12]  # one shard alone: any name will do
        start: str | None = flags.get("start_at")
        tolerance = parse_duration(flags.get("start_tolerance") or "1s", flag="--start-tolerance")
        return cls(
            shard, run_id, parse_start_at(start) if start is not None else None, tolerance, out
        )

    def seed(self, given: int | None) -> int:
        """The traffic's seed: the one given, else one every shard derives from the run id
        alone, else a fresh one (then drawn once here, so the workers agree)."""
        if given is not None:
            return given
        if self.run_id is not None:
            return seed_of(self.run_id)
        return random.getrandbits(63)

    @property
    def defers(self) -> bool:
        """A shard's share is not the run: its verdict is the merged report's."""
        return self.shard.count > 1 or self.out is not None


UNSHARDED = Sharding()


def senders(flags: Flags, settings: Settings, shard: Shard) -> int:
    """The worker processes of this shard: as given, or one per core, never more than the
    slots of the shard's part of the cap. Every sender needs a slot of its own."""
    own_slots = shard.whole(settings.concurrency, at_least_one=False)
    given: int | None = flags.get("workers")
    count = given if given is not None else max(1, min(os.cpu_count() or 1, own_slots))
    if not 1 <= count <= MAX_WORKERS:
        raise ConfigError(f"--workers = {count}: must be between 1 and {MAX_WORKERS}")
    if shard.count > settings.concurrency:  # the same answer on every shard
        raise ConfigError(
            f"--concurrency {settings.concurrency} is less than the {shard.count} shards: every "
            "sender needs a slot of its own"
        )
    if count > own_slots:
        whose = "" if shard.count == 1 else f" (shard {shard}'s part of {settings.concurrency})"
        raise ConfigError(
            f"--concurrency {own_slots}{whose} is less than the {count} workers: every sender "
            "needs a slot of its own"
        )
    return count


def http_client(flags: Flags) -> Literal["lean", "aiohttp"]:
    client = flags.get("http_client", "lean")
    if client not in ("lean", "aiohttp"):
        raise ConfigError(f"--http-client = {shown(client)}: allowed: lean, aiohttp")
    return "lean" if client == "lean" else "aiohttp"


def plan_context(plan: LoadPlan) -> dict[str, Any]:
    """The plan, as a shard records it for `merge` (`plan_from` reads it back)."""
    return {
        "profile": [list(point) for point in plan.profile.points] if plan.profile else None,
        "duration_s": plan.duration_s,
        "traffic": plan.traffic.model_dump(mode="json"),
        "graceful_stop_s": plan.graceful_stop_s,
        "count": plan.count,
        "payload": plan.payload.described(),
    }


def shard_result(
    command: Literal["run", "load"],
    settings: Settings,
    plan: LoadPlan,
    sharding: Sharding,
    metrics: Metrics,
    *,
    judged: dict[str, Any],
    workers_failed: tuple[str, ...],
    interrupted: str | None,
) -> ShardResult:
    """This shard's mergeable result. `judged`: what merge judges the whole by (the load's
    thresholds, the run's scenario), the same on every shard."""
    context: dict[str, Any] = REDACTOR.scrub_tree(
        {
            "settings": settings.redacted(),
            "flow": settings.flow,
            "plan": plan_context(plan),
            **judged,
        }
    )  # as the file will hold it: what merge checks the fingerprint on
    assert sharding.run_id is not None  # from_flags gives a result a run id
    return ShardResult(
        tool_version=__version__,
        command=command,
        run_id=sharding.run_id,
        shard=ShardPart(index=sharding.shard.index, count=sharding.shard.count),
        fingerprint=agreement(command, sharding.shard.count, context),
        start_at=rfc3339(sharding.start_at) if sharding.start_at is not None else None,
        workers=plan.workers,
        workers_failed=list(workers_failed),
        interrupted=interrupted,
        context=context,
        metrics=to_wire(metrics),
    )


def agreement(command: str, shards: int, context: dict[str, Any]) -> str:
    """The fingerprint of what every shard of one run must agree on: its context, less what
    each shard has of its own. Not the start instant ("+30s" gives every shard its own; merge
    tells them apart), nor the addresses a shard sends from (each machine has its own), nor
    what it measured (a scenario's verdicts)."""
    common = {k: v for k, v in context["settings"].items() if k != "source_addresses"}
    agreed = {"command": command, "shards": shards, **context, "settings": common}
    if isinstance(scenario := context.get("scenario"), dict):
        agreed["scenario"] = {k: v for k, v in scenario.items() if k != "verdicts"}
    return fingerprint(agreed)
