"""The payload control flags of `send`, `run` and `load`, read once: `--set`, `--unset`,
`--process-ids`, `--bodies` (see `dispatcher.overrides`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import attemptlog, outfiles
from ..errors import ConfigError
from ..overrides import Edit, PayloadControl, read_bodies, read_process_ids
from ..payloads import by_client_payload, by_unico_payload
from .flags import Flags


def full_body(flow: str) -> dict[str, Any]:
    """A body of `flow` with every field it may carry, to check changes against."""
    if flow == "by-client":
        return by_client_payload("00000000-0000-4000-8000-000000000000", 3)
    return by_unico_payload("00000000-0000-4000-8000-000000000000", result="expired")


def payload_control(flags: Flags, flow: str) -> PayloadControl:
    edit = Edit.of(flags.get("set") or (), flags.get("unset") or ())
    ids_file: Path | None = flags.get("process_ids")
    bodies_file: Path | None = flags.get("bodies")
    if bodies_file is not None and (edit is not None or ids_file is not None):
        other = "--process-ids" if ids_file is not None else "--set/--unset"
        raise ConfigError(f"--bodies and {other} do not go together: bodies are sent as they are")
    if edit is not None:
        edit.check(full_body(flow), flow)
    return PayloadControl(
        edit,
        read_process_ids(ids_file) if ids_file is not None else (),
        read_bodies(bodies_file, flow) if bodies_file is not None else (),
    )


def attempt_log(flags: Flags) -> Path | None:
    """--log: checked, and emptied, before the run; every sender then appends to it."""
    path: Path | None = flags.get("log")
    if path is not None:
        outfiles.check_target(path, "--log")
        attemptlog.start(path)
    return path
