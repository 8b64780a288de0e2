"""Reading a saved JSON report back into the typed model (`report --html`, merge, compare),
with one line naming the problem when the file is not one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from .model import SCHEMA_VERSION, AnyReport, CheckReport, LoadReport, PlatformReport, RunReport

M = TypeVar("M", bound=BaseModel)

_KINDS: dict[str, type[AnyReport]] = {
    "run": RunReport,
    "load": LoadReport,
    "platform": PlatformReport,
    "check": CheckReport,
}


def kind_of(data: dict[str, Any]) -> str:
    """The report's kind; reports written before `kind` existed are told by their sections."""
    kind = data.get("kind")
    if isinstance(kind, str):
        return kind
    if "checks" in data:
        return "check"
    if "platform" in data:
        return "platform"
    return "load" if "rate" in data else "run"


def loads(source: str, text: bytes, what: str) -> Any:
    """`text` (read from `source`) as JSON, or one line saying why not."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ConfigError(f"{source}: not a webhook-sim {what} (nested too deeply)") from None
    except ValueError as exc:
        raise ConfigError(f"{source}: not JSON ({' '.join(str(exc).split())[:120]})") from None


def read_json(source: Path) -> dict[str, Any]:
    try:
        text = source.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read it ({exc.strerror})") from None
    data = loads(str(source), text, "report")
    if not isinstance(data, dict) or not ({"notifications", "checks"} & data.keys()):
        raise ConfigError(f"{source}: not a webhook-sim report (no 'notifications')")
    return data


def parse(data: dict[str, Any], model: type[M], source: str, what: str) -> M:
    """`data` as `model`, or a ConfigError naming the first field that does not fit."""
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ConfigError(
            f"{source}: schema_version {version!r} is not one this webhook-sim reads "
            f"({SCHEMA_VERSION})"
        )
    try:
        return model.model_validate({"kind": model.model_fields["kind"].default, **data})
    except RecursionError:
        raise ConfigError(f"{source}: not a webhook-sim report (nested too deeply)") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the report"
        if error["type"] == "missing":
            raise ConfigError(f"{source}: not a webhook-sim {what} (no {where!r})") from None
        problem = " ".join(error["msg"].split())[:200]
        raise ConfigError(
            f"{source}: not a webhook-sim {what} (a field has the wrong type): {where}: {problem}"
        ) from None


def read_report(source: Path) -> AnyReport:
    """Any saved report, as its own model."""
    data = read_json(source)
    kind = kind_of(data)
    model = _KINDS.get(kind)
    if model is None:
        raise ConfigError(f"{source}: kind {kind!r} is not a webhook-sim report kind")
    return parse(data, model, str(source), "report")


def read_load_report(source: Path) -> LoadReport:
    data = read_json(source)
    kind = data.get("kind", "load")
    if kind != "load":
        raise ConfigError(f"{source}: a {kind!r} report, not a load report")
    return parse(data, LoadReport, str(source), "load report")
