"""What GetProcess answers about a process, for each integration method: the platform's view
of where the process is, and (by-Client) the scores a finished one carries."""

from __future__ import annotations

from typing import Any

from .world import GETPROCESS_RESULTS, Process, iso


def unico_view(process: Process, expires_s: float = 86400) -> dict[str, Any]:
    finished = process.final
    view: dict[str, Any] = {
        "id": process.id,
        "flow": process.request.get("flow"),
        "state": "PROCESS_STATE_FINISHED" if finished else "PROCESS_STATE_CREATED",
        "result": GETPROCESS_RESULTS[process.path[0]] if finished else "PROCESS_RESULT_UNSPECIFIED",
        "createdAt": iso(process.created_at),
        "expiresAt": iso(process.created_at + expires_s),
        "authenticationInfo": {},
        "callbackUri": process.request.get("callbackUri"),
        "purpose": process.request.get("purpose"),
    }
    if process.finished_at is not None:
        view["finishedAt"] = iso(process.finished_at)
    return view


def client_view(process: Process) -> dict[str, Any]:
    status = int(process.current) if process.current else 1
    view: dict[str, Any] = {"id": process.id, "status": status}
    if status == 3:
        view |= {
            "unicoId": {"result": "yes"},
            "identityFraudsters": {"result": "inconclusive"},
            "government": {"serpro": 97},
            "liveness": 1,
        }
    elif status == 2:
        view |= {
            "unicoId": {"result": "inconclusive", "score": 42},
            "identityFraudsters": {"result": "inconclusive"},
            "government": {"serpro": -1},
            "liveness": 1,
        }
    elif status in (4, 5):
        view |= {"unicoId": {"result": "no"}, "liveness": 2}
    return view
