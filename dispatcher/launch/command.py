"""`run|load ... --ray --shards N`: the command as given, run as N shards by a launcher and
merged into the one report this machine would have written.

The shards get the command's own options back as a command line (paths made absolute, the
reports and the launcher's own options left out) and its credentials by environment, never on
a command line: `--secret-header` and credentials in the URL have no variable, and are refused.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..jobs.flags import Flags
from ..jobs.merge import MergeOutcome, merge_shards
from ..jobs.params import Param, resolve
from ..report.shard import read_shard
from ..settings import ENV_SECRETS
from ..shards import RunFailed

MAX_RAY_SHARDS = 1000
# The launcher's own options, the shard contract it sets itself, and the reports it writes;
# and what it says (--output, --quiet): a shard's stdout is its document, the parent talks.
_NOT_PASSED = frozenset({"ray", "shards", "ray_address", "run_id", "shard", "start_at",
                         "shard_out", "report_json", "report_html", "junit", "output",
                         "quiet"})  # fmt: skip


def _text(value: Any) -> str:
    if isinstance(value, Path) and str(value) != "-":
        return str(value.resolve())  # a shard's working directory is not this one
    return str(value)


def shard_command(
    params: tuple[str | Param, ...], flags: Flags
) -> tuple[list[str], dict[str, str]]:
    """The options given, as a shard's command line, and the credentials as its environment."""
    args: list[str] = []
    env = {var: os.environ[var] for var in ENV_SECRETS.values() if os.environ.get(var)}
    for param in resolve(params):
        value = flags.get(param.name)
        if param.name in _NOT_PASSED or value is None or value == param.default:
            continue
        if param.name in ENV_SECRETS:
            env[ENV_SECRETS[param.name]] = str(value)
        elif param.name == "secret_header":
            raise ConfigError("--secret-header cannot go to Ray shards (it has no environment "
                              "variable): use --api-key HEADER:VALUE or a config file")  # fmt: skip
        elif not param.flags:
            args.append(_text(value))
        elif "/" in param.flags[0]:  # --adaptive/--no-adaptive
            on, off = param.flags[0].split("/")
            args.append(on if value else off)
        elif param.kind is bool:
            args.append(param.flags[0]) if value else None
        else:
            for item in value if isinstance(value, list) else [value]:
                args += [param.flags[0], _text(item)]
    if "@" in urlsplit(str(flags.get("url") or "")).netloc:
        raise ConfigError("--url with credentials in it cannot go to Ray shards: use --basic "
                          "(or WEBHOOK_SIM_BASIC)")  # fmt: skip
    return args, env


def launch_and_merge(
    command: Literal["run", "load"],
    params: tuple[str | Param, ...],
    flags: Flags,
    validate: Callable[[Flags], object],
) -> MergeOutcome:
    """Check the command here (bad input is one line before any cluster is touched), run it as
    `--shards` shards on Ray, and merge what came back; a shard that failed is named."""
    shards: int | None = flags.get("shards")
    if shards is None or not 1 <= shards <= MAX_RAY_SHARDS:
        raise ConfigError(f"--ray needs --shards N, from 1 to {MAX_RAY_SHARDS} (given: {shards})")
    for name in ("shard", "start_at", "shard_out"):
        if flags.get(name) is not None:
            raise ConfigError(f"--{name.replace('_', '-')} does not go with --ray: the launcher "
                              "gives every shard its own")  # fmt: skip
    if flags.get("hdr_log") is not None:  # each shard would write its own on its own node
        raise ConfigError("--hdr-log does not go with --ray yet: give it to shards run with "
                          "--shard K/N, one log each")  # fmt: skip
    metrics = ("metrics_port", "metrics_host", "metrics_linger")
    if any(flags.get(name) is not None for name in metrics):  # shards run on other nodes
        raise ConfigError("--metrics-port does not go with --ray: give it to shards run with "
                          "--shard K/N, one port each")  # fmt: skip
    validate({**flags, "ray": False, "shards": None})
    args, env = shard_command(params, flags)
    from .ray import launch

    run_id = flags.get("run_id") or uuid.uuid4().hex[:12]
    ray = launch(command, args, shards=shards, address=flags.get("ray_address"), run_id=run_id,
                 env=env)  # fmt: skip
    if not ray.documents:
        raise RunFailed(f"no shard of run {run_id} came back: {'; '.join(ray.failed)}")
    documents = [
        (f"Ray shard {i}", read_shard(f"Ray shard {i}", json.dumps(doc).encode()))
        for i, doc in enumerate(ray.documents)
    ]
    merged = merge_shards(documents, allow_partial=bool(ray.failed))
    failed = (*merged.failed, *ray.failed)
    report = merged.report.model_copy(update={"workers_failed": list(failed) or None})
    return dataclasses.replace(merged, report=report, failed=failed)
