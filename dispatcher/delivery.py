"""One delivery attempt with the platform's rules: auth → POST → classify.

Success is 200..299 and nothing else; a 3xx is a failure (redirects are not followed). A 401
lets the auth strategy renew what went stale (an OAuth2 token) and the request is sent once
more within the same attempt, the way httpx's auth flows do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .auth import Auth
from .backoff import parse_retry_after
from .errors import DeliveryError
from .payloads import Notification
from .redact import REDACTOR
from .transport import Response, Transport, check_headers

JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class AttemptResult:
    number: int
    status: int | None  # the HTTP status, or None when no response arrived
    error: str | None  # DeliveryError.kind when no response arrived
    latency_s: float
    retry_after_s: float | None = None
    detail: str = ""  # a short excerpt of the response body, or the error message
    reauthenticated: bool = False
    # HTTP requests this attempt made to the receiver: 0 when no token could be had, 2 when a
    # 401 made the sender renew its OAuth2 token and send again within the same attempt (or a
    # kept-alive connection turned out closed and the request went out again on a fresh one).
    requests: int = 1

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def outcome(self) -> str:
        """What reports count attempts by: the status code, or the error kind."""
        return str(self.status) if self.status is not None else (self.error or "error")


def _excerpt(resp: Response, limit: int = 200) -> str:
    # Masked before it is cut: a secret the receiver echoed across the cut would otherwise
    # leave its first characters behind, where no redaction can recognise them.
    window = resp.body[: limit + REDACTOR.margin]
    text = REDACTOR.scrub(" ".join(window.decode("utf-8", "replace").split()))
    more = len(text) > limit or len(resp.body) > len(window) or resp.truncated
    return text[:limit] + ("…" if more else "")


RequestKind = Literal["first", "after-401", "stale-connection"]


async def attempt(
    transport: Transport,
    auth: Auth,
    url: str,
    note: Notification,
    number: int,
    *,
    extra_headers: tuple[tuple[str, str], ...] = (),
    on_request: Callable[[RequestKind], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> AttemptResult:
    """One attempt. `on_request` is told of each request as it leaves (the first; a re-send
    after a 401 renewed the token; a re-send because a kept-alive connection turned out closed),
    so a run cancelled mid-attempt still counts everything the receiver may have got. The
    latency is read on `clock` (the engine's: virtual time in its tests)."""
    started = clock()
    reauthenticated = False
    requests = 0
    headers = {**JSON_HEADERS, **dict(extra_headers)}

    def count(kind: RequestKind) -> None:
        nonlocal requests
        requests += 1
        if on_request is not None:
            on_request(kind)

    async def post(kind: RequestKind, sent: dict[str, str]) -> Response:
        check_headers(sent)  # a request refused here was never sent, and is not counted
        count(kind)
        return await transport.request(
            "POST",
            url,
            headers={**headers, **sent},
            data=note.body,
            on_resend=lambda: count("stale-connection"),
        )

    try:
        sent = await auth.headers(transport)
        resp = await post("first", sent)
        if resp.status == 401 and auth.unauthorized(sent):
            reauthenticated = True
            resp = await post("after-401", await auth.headers(transport))
    except DeliveryError as exc:
        return AttemptResult(
            number, None, exc.kind, clock() - started, detail=str(exc),
            reauthenticated=reauthenticated, requests=requests,
        )  # fmt: skip
    retry_after = None
    if resp.status in (429, 503):
        retry_after = parse_retry_after(resp.headers.get("Retry-After"), time.time())
    detail = _excerpt(resp)
    if 300 <= resp.status < 400 and "Location" in resp.headers:
        detail = REDACTOR.scrub(f"redirect to {resp.headers['Location'][:500]} (not followed)")
    return AttemptResult(
        number,
        resp.status,
        None,
        clock() - started,
        retry_after,
        detail,
        reauthenticated,
        requests,
    )
