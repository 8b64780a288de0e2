"""Notification payloads exactly as the contract shows them, deterministic under a seed."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from .contract import LAST_EVENTS, PROCESS_FLOWS, STATE_FINISHED, Flow, PayloadProfile


@dataclass(frozen=True, slots=True)
class Notification:
    """One state change the platform notifies: what to POST, and what it is for reports."""

    process_id: str
    key: str  # by-client: the status ("3"); by-unico: "STATE/result" ("PROCESS_STATE_FINISHED/ok")
    payload: dict[str, Any] = field(compare=False, hash=False)
    body: bytes = field(compare=False, hash=False, repr=False)
    duplicate: bool = False  # a second send of a notification already in the plan
    reordered: bool = False  # an earlier status sent after its process's later one
    unknown: bool = False  # a status or state the contract does not list (yet)

    def again(self) -> Notification:
        """The same notification once more, as at-least-once delivery does."""
        return Notification(
            self.process_id, self.key, self.payload, self.body, True, self.reordered, self.unknown
        )


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def by_unico_payload(
    process_id: str,
    *,
    state: str = STATE_FINISHED,
    flow: str = "id",
    result: str | None = "ok",
    profile: PayloadProfile = "current",
    last_event: str | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"processId": process_id, "state": state, "flow": flow}
    if profile == "minimal" or result is None:
        return payload
    payload["result"] = result
    if result == "expired":
        event = last_event or "EVENT_TYPE_SESSION_ENDED"
        payload["lastEvent"] = event
        payload["lastEventDescription"] = LAST_EVENTS.get(event, "Unknown event")
    return payload


def by_client_payload(process_id: str, status: int) -> dict[str, Any]:
    return {"id": process_id, "status": status}


def notification(
    payload: dict[str, Any],
    *,
    duplicate: bool = False,
    reordered: bool = False,
    unknown: bool = False,
) -> Notification:
    process_id, key = names(payload)
    return Notification(process_id, key, payload, encode(payload), duplicate, reordered, unknown)


def names(payload: Any) -> tuple[str, str]:
    """The process id and the status key a body carries, as reports name it. A body the user
    changed (--unset, --bodies) may lack a field: it is still sent, under the name it has."""
    if not isinstance(payload, dict):
        return "", ""
    if "processId" in payload:
        return str(payload["processId"]), f"{payload.get('state', '')}/{payload.get('result', '')}"
    return str(payload.get("id", "")), str(payload.get("status", ""))


class PayloadFactory:
    """Random but reproducible ids and journey details: the same seed gives the same payloads."""

    def __init__(self, seed: int | None = None, *, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random(seed)

    def process_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def process_flow(self) -> str:
        return self.rng.choice(PROCESS_FLOWS)

    def last_event(self) -> str:
        return self.rng.choice(tuple(LAST_EVENTS))

    def by_unico(
        self,
        *,
        process_id: str | None = None,
        state: str = STATE_FINISHED,
        result: str | None = "ok",
        flow: str | None = None,
        profile: PayloadProfile = "current",
    ) -> dict[str, Any]:
        return by_unico_payload(
            process_id or self.process_id(),
            state=state,
            flow=flow or self.process_flow(),
            result=result,
            profile=profile,
            last_event=self.last_event() if result == "expired" else None,
        )

    def by_client(self, *, process_id: str | None = None, status: int = 3) -> dict[str, Any]:
        return by_client_payload(process_id or self.process_id(), status)

    def single(self, flow: Flow, **kwargs: Any) -> dict[str, Any]:
        if flow == "by-client":
            return self.by_client(**kwargs)
        return self.by_unico(**kwargs)
