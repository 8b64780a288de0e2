"""An integrator's webhook receiver for Unico IDCloud, done right, in aiohttp.

What the contract (docs: the platform's side, as webhook-sim plays it) asks of it:

- Basic auth: anything without the configured `user:pass` gets 401 before the body is read.
- Both payloads: by-Unico `{"processId", "state", "flow", "result"?...}` and by-Client
  `{"id", "status"}`.
- A 2xx at once: the handler only records the notification; real work (emails, approvals)
  belongs on a queue, or the platform times out and retries.
- Idempotent: delivery is at least once, so a notification seen before is answered 200 again
  and not acted on twice.
- Tolerant: a status, state, result or field it does not know is answered 200 and ignored, so
  the day the platform adds one nothing breaks.
- Order is not guaranteed: once a process has a final status, a late earlier one never
  overwrites it. `GET /processes/{id}` shows what the app believes (what
  `webhook-sim check --verify-url` reads back).

Run it: `python examples/aiohttp_receiver/receiver_app.py` (listens on 127.0.0.1:8080).
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# Which statuses the app acts on is a setting: the platform may add statuses (contract).
FINAL_CLIENT_STATUSES = frozenset({3, 4, 5})  # completed, canceled, error
FINISHED = "PROCESS_STATE_FINISHED"


@dataclass
class Store:
    """What the app knows; a real one keeps it in a database, keyed the same way."""

    seen: set[tuple[str, str]] = field(default_factory=set)  # (process id, status or state)
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)
    acted_on: list[str] = field(default_factory=list)  # process ids, once each final status
    duplicates: int = 0
    ignored: int = 0  # notifications it does not act on: unknown or non-final statuses

    def record(self, process_id: str, key: str, view: dict[str, Any], final: bool) -> None:
        if (process_id, key) in self.seen:
            self.duplicates += 1  # at least once: already handled, answer 200 again
            return
        self.seen.add((process_id, key))
        current = self.processes.get(process_id)
        if current is not None and current["final"]:
            self.ignored += 1  # a late, earlier status: the final one stands
            return
        self.processes[process_id] = {**view, "final": final}
        if final:
            self.acted_on.append(process_id)  # where a real app would enqueue its work
        else:
            self.ignored += 1


def _notification(body: Any) -> tuple[str, str, dict[str, Any], bool] | None:
    """(process id, dedup key, the app's view, final?) of a notification; None if it is not
    one. Unknown values are fine; only the shape is required."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("processId"), str) and isinstance(body.get("state"), str):
        pid, state, result = body["processId"], body["state"], body.get("result")
        view = {"id": pid, "state": state, "result": result, "status": state}
        return pid, state, view, state == FINISHED
    status = body.get("status")
    if isinstance(body.get("id"), str) and isinstance(status, int) and not isinstance(status, bool):
        view = {"id": body["id"], "status": status}
        return body["id"], str(status), view, status in FINAL_CLIENT_STATUSES
    return None


STORE = web.AppKey("store", Store)


def create_app(credentials: str) -> web.Application:
    """The receiver, expecting `Authorization: Basic base64(credentials)` ("user:pass")."""
    expected = "Basic " + base64.b64encode(credentials.encode()).decode()
    store = Store()

    async def webhook(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return web.json_response(
                {"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": "Basic"}
            )
        try:
            parsed = _notification(json.loads(await request.read()))
        except ValueError:  # not JSON, or not UTF-8
            parsed = None
        if parsed is None:
            return web.json_response({"error": "not a notification"}, status=400)
        store.record(*parsed)
        return web.json_response({"ok": True})

    async def process(request: web.Request) -> web.Response:
        view = store.processes.get(request.match_info["id"])
        if view is None:
            return web.json_response({"error": "unknown process"}, status=404)
        return web.json_response(view)

    app = web.Application()
    app[STORE] = store
    app.router.add_post("/webhooks/unico", webhook)
    app.router.add_get("/processes/{id}", process)
    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    web.run_app(create_app("integrator:s3cret"), host="127.0.0.1", port=8080)
