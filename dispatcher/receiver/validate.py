"""Is this body a notification the contract allows? A pure function, shared by tests and checks.

Strict on shape and types (what the platform always sends), tolerant of what the contract says
may change: an unknown status or state, an unknown result or event, an extra field. Those are
accepted and flagged, because a receiver that refuses them breaks the day the platform adds one.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from ..contract import KNOWN_STATES, LAST_EVENTS, NOTIFIED_STATUSES, RESULTS

UNICO_FIELDS = frozenset(
    {"processId", "state", "flow", "result", "lastEvent", "lastEventDescription"}
)
CLIENT_FIELDS = frozenset({"id", "status"})


class InvalidPayload(ValueError):
    """The body breaks the contract; the message is the reason given back with a 400."""


def parse_json(body: bytes | str) -> Any:
    """json.loads for bodies from strangers: nesting deeper than the interpreter's recursion
    limit raises RecursionError, which is no ValueError; it becomes one, so callers answer 400."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError("the body is not UTF-8") from None


def printable(value: object, limit: int = 80) -> str:
    """`value` for a log line or an error message: control characters escaped (a body must not
    forge log lines), and cut to `limit` characters (nor decide their size)."""
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Accepted:
    flow: str  # "by-unico" | "by-client"
    process_id: str
    key: str  # what a duplicate is counted by: the state (by-unico) or status (by-client)
    status: int | str  # the by-client status, or the by-unico state
    result: str | None
    unknown: bool  # a status, state, result or event the contract does not list
    extra_fields: tuple[str, ...]


def _uuid(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidPayload(f"{name} must be a string UUID, got {type(value).__name__}")
    try:
        uuid.UUID(value)
    except ValueError:
        raise InvalidPayload(f"{name} {printable(repr(value))} is not a UUID") from None
    return value


def _string(payload: dict[str, Any], name: str) -> str:
    if name not in payload:
        raise InvalidPayload(f"missing field {name!r}")
    value = payload[name]
    if not isinstance(value, str) or not value:
        raise InvalidPayload(f"{name} must be a non-empty string")
    return value


def validate(payload: Any) -> Accepted:
    if not isinstance(payload, dict):
        raise InvalidPayload("the body must be a JSON object")
    if "processId" in payload:
        return _by_unico(payload)
    if "id" in payload:
        return _by_client(payload)
    raise InvalidPayload("neither a by-Unico notification (processId) nor a by-Client one (id)")


def _by_unico(payload: dict[str, Any]) -> Accepted:
    process_id = _uuid(payload["processId"], "processId")
    state = _string(payload, "state")
    _string(payload, "flow")
    unknown = state not in KNOWN_STATES
    result: str | None = None
    if "result" in payload:
        result = _string(payload, "result")
        unknown |= result not in RESULTS
    has_event = "lastEvent" in payload or "lastEventDescription" in payload
    if result == "expired":
        event = _string(payload, "lastEvent")
        _string(payload, "lastEventDescription")
        unknown |= event not in LAST_EVENTS
    elif has_event:
        raise InvalidPayload(
            "lastEvent and lastEventDescription are sent only when result is expired"
        )
    extra = tuple(sorted(set(payload) - UNICO_FIELDS))
    return Accepted("by-unico", process_id, state, state, result, unknown, extra)


def _by_client(payload: dict[str, Any]) -> Accepted:
    process_id = _uuid(payload["id"], "id")
    if "status" not in payload:
        raise InvalidPayload("missing field 'status'")
    status = payload["status"]
    if not isinstance(status, int) or isinstance(status, bool):
        raise InvalidPayload(f"status must be an integer, got {type(status).__name__}")
    if status == 1:
        raise InvalidPayload("status 1 (processing) is never notified")
    extra = tuple(sorted(set(payload) - CLIENT_FIELDS))
    unknown = status not in NOTIFIED_STATUSES
    return Accepted("by-client", process_id, str(status), status, None, unknown, extra)
