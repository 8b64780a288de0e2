"""The JSON error answers of the two servers webhook-sim runs, the sandbox receiver and the
platform mock: one function per error shape, each usable as the serving layer's
`error(status, message)`. Server side only: aiohttp.web, no client code.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

ErrorResponse = Callable[[int, str], web.Response]

# The gRPC status the platform's gateway names for each HTTP status it answers with.
GRPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    413: "RESOURCE_EXHAUSTED",
}


def json_error(
    status: int, error: str, *, description: str | None = None, challenge: str | None = None
) -> web.Response:
    """`{"error": ...}`, with `error_description` when given: OAuth2's shape (RFC 6749 section
    5.2), which the sandbox receiver gives for every error. `challenge` is the
    WWW-Authenticate scheme of a 401."""
    body = {"error": error}
    if description is not None:
        body["error_description"] = description
    headers = {"WWW-Authenticate": challenge} if challenge else None
    return web.json_response(body, status=status, headers=headers)


def platform_error(status: int, message: str) -> web.Response:
    """The platform API's shape (gRPC-gateway style, as its PROCESS_STATE_* enums suggest):
    `{"error": {"code": 401, "status": "UNAUTHENTICATED", "message": ...}}`."""
    code = GRPC_STATUS.get(status, "INVALID_ARGUMENT")
    return web.json_response(
        {"error": {"code": status, "status": code, "message": message}}, status=status
    )
