"""A shard's mergeable result (`--shard-out`): what `webhook-sim merge` needs to report as one
process would have, for the same counts and histograms.

It is not a report: it holds the shard's raw figures (counters, HDR-encoded histograms, the
per-second timeline counted from the shared start instant) and what the report is built
from (the settings with every secret `***`, the plan, the thresholds or scenario).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError
from ..redact import REDACTOR
from .model import SCHEMA_VERSION
from .read import loads


class ShardPart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(ge=0)
    count: int = Field(ge=1)


class ShardResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["shard"] = "shard"
    tool_version: str
    command: Literal["run", "load"]
    run_id: str
    shard: ShardPart
    fingerprint: str = Field(description="digest of what every shard of the run must agree on")
    start_at: str | None = Field(description="the shared start instant, RFC 3339 UTC")
    workers: int
    workers_failed: list[str]
    interrupted: str | None
    context: dict[str, Any] = Field(description="settings (secrets ***), plan, thresholds")
    metrics: dict[str, Any] = Field(description="counters, HDR-encoded histograms, timeline")


def shard_json(result: ShardResult) -> str:
    """The file `--shard-out` writes. The context's strings are scrubbed of every secret once
    more; the metrics hold numbers, outcome names and HDR encodings, never scrubbed (a short secret
    could match inside an encoding and corrupt it), and the outcomes' samples, scrubbed."""
    data = result.model_dump(mode="json")
    data["context"] = REDACTOR.scrub_tree(data["context"])
    if samples := data["metrics"].get("samples"):  # receivers' words: they may echo a secret
        data["metrics"]["samples"] = REDACTOR.scrub_tree(samples)
    return json.dumps(data, separators=(",", ":")) + "\n"


def read_shard(source: str, text: bytes) -> ShardResult:
    """`text` (read from `source`) as a shard result, or one line naming what is wrong."""
    data = loads(source, text, "shard result")
    if not isinstance(data, dict) or data.get("kind") != "shard":
        kind = data.get("kind") if isinstance(data, dict) else None
        what = f"a {kind!r} report" if isinstance(kind, str) else "something else"
        raise ConfigError(
            f"{source}: not a webhook-sim shard result ({what}; write one with --shard-out)"
        )
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(
            f"{source}: schema_version {data.get('schema_version')!r} is not one this "
            f"webhook-sim reads ({SCHEMA_VERSION})"
        )
    try:
        return ShardResult.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the result"
        problem = " ".join(error["msg"].split())[:200]
        raise ConfigError(f"{source}: not a webhook-sim shard result: {where}: {problem}") from None


def load_shard(path: Path) -> ShardResult:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    return read_shard(str(path), text)
