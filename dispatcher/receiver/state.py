"""What the sandbox receiver counts and remembers, in bounded memory: served as JSON at
/_stats, and each process's last notified status for `GET /processes/{id}`."""

from __future__ import annotations

import sys
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ..tokens import TokenStore
from .config import DEFAULT_EXACT_KEYS
from .dedup import NotificationMemory
from .validate import Accepted

# `GET /processes/{id}` answers for this many most recently notified processes: enough for
# `check --verify-url`, which asks about what it just sent, at about 200 bytes a process.
PROCESS_VIEWS = 100_000


class ProcessViews:
    """The receiver's own view of each process, as an integrator's app would keep it; only the
    `limit` most recently notified processes are kept, so memory stays bounded."""

    def __init__(self, limit: int = PROCESS_VIEWS) -> None:
        self.limit = limit
        self.forgotten = 0
        # (flow, status or state, result); OrderedDict: evicting the oldest is O(1).
        self._views: OrderedDict[str, tuple[str, int | str, str | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._views)

    def status(self, process_id: str) -> int | str | None:
        view = self._views.get(process_id)
        return None if view is None else view[1]

    def put(self, accepted: Accepted) -> None:
        views = self._views
        views.pop(accepted.process_id, None)
        # Interned: a million "PROCESS_STATE_FINISHED" decoded from bodies are one string.
        state = sys.intern(accepted.status) if isinstance(accepted.status, str) else accepted.status
        result = sys.intern(accepted.result) if accepted.result is not None else None
        views[accepted.process_id] = (accepted.flow, state, result)
        if len(views) > self.limit:
            views.popitem(last=False)
            self.forgotten += 1

    def get(self, process_id: str) -> dict[str, Any] | None:
        view = self._views.get(process_id)
        if view is None:
            return None
        flow, status, result = view
        if flow == "by-client":
            return {"id": process_id, "status": status}
        return {"id": process_id, "state": status, "result": result}


@dataclass
class ReceiverState:
    """Everything the receiver counts; served as JSON at /_stats."""

    requests: int = 0  # every request answered, on any path: one --record line each
    received: int = 0  # the requests that reached the notification handler
    accepted: int = 0
    rejected_auth: int = 0
    forbidden_source: int = 0  # answered 403: from outside --allow-from
    invalid_payload: int = 0
    unique: int = 0  # notifications answered 2xx at least once
    duplicates: int = 0
    injected_failures: int = 0
    unknown: int = 0
    extra_fields: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    token_requests: int = 0
    tokens_issued: int = 0
    responses: Counter[int] = field(default_factory=Counter)
    # Deliveries per notification and whether one was answered 2xx, in bounded memory.
    memory: NotificationMemory = field(
        default_factory=lambda: NotificationMemory(DEFAULT_EXACT_KEYS)
    )
    tokens: TokenStore = field(default_factory=TokenStore)
    processes: ProcessViews = field(default_factory=ProcessViews)

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "received": self.received,
            "accepted": self.accepted,
            "rejected_auth": self.rejected_auth,
            "forbidden_source": self.forbidden_source,
            "invalid_payload": self.invalid_payload,
            "unique": self.unique,
            "duplicates": self.duplicates,
            "injected_failures": self.injected_failures,
            "unknown": self.unknown,
            "extra_fields": self.extra_fields,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "token_requests": self.token_requests,
            "tokens_issued": self.tokens_issued,
            "responses": {str(code): n for code, n in sorted(self.responses.items())},
            "dedup": self.memory.as_json(),
            "processes": {
                "kept": len(self.processes),
                "limit": self.processes.limit,
                "forgotten": self.processes.forgotten,
            },
        }
