"""A transport that answers from a script, in memory: the receiver of the engine's unit tests.

Each request is handed to a script, which returns the reply: an `Answer` (status, headers such
as Retry-After, body) or a `Failure` (a `DeliveryError` kind: refused, reset, timeout...), each
after its `delay_s`. The delay is slept on the event loop, so on a VirtualTimeLoop it takes no
real time; a delay past the request's timeout ends as a timeout, as on the wire. Requests go
through `Transport.request`, so headers are checked and userinfo dropped as by the HTTP
clients, and every one received is kept in `received`.

    transport = MemoryTransport(per_notification(Answer(503, {"Retry-After": "5"})))
    engine = Engine(settings, transport=transport, options=EngineOptions(clock=loop.time))
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from multidict import CIMultiDict, CIMultiDictProxy

from ..errors import ConnectionRefused, DeliveryError
from ..transport import Response, Transport


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer, given `delay_s` after the request arrived."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_s: float = 0.0
    # The request met a kept-alive connection the server had closed and went out once more.
    resent: bool = False


@dataclass(frozen=True, slots=True)
class Failure:
    """No HTTP answer: `error` is raised `delay_s` after the request arrived."""

    error: type[DeliveryError] = ConnectionRefused
    delay_s: float = 0.0


Reply = Answer | Failure


@dataclass(frozen=True, slots=True)
class Received:
    """A request as the script sees it."""

    number: int  # 0 for the first request the transport received
    at: float  # the transport's clock when it arrived
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Script = Callable[[Received], Reply]


def always(reply: Reply) -> Script:
    return lambda request: reply


def replies(*given: Reply, then: Reply = Answer()) -> Script:
    """The replies in the order requests arrive, then `then` for every request after them."""
    queue = iter(given)
    return lambda request: next(queue, then)


def per_notification(*given: Reply, then: Reply = Answer()) -> Script:
    """Each notification's attempts get the replies in order (its first attempt the first
    reply...), then `then`. Notifications are told apart by their body: a plan with
    duplicates counts a duplicate's attempts with the original's."""
    seen: dict[bytes, int] = {}

    def script(request: Received) -> Reply:
        n = seen[request.body] = seen.get(request.body, 0) + 1
        return given[n - 1] if n <= len(given) else then

    return script


class MemoryTransport(Transport):
    """Answers every request from `script` (or with the same reply, if given one), on `clock`
    (the running loop's own by default). Counts what a receiver would: `received`, and how many
    requests it held at once (`in_flight`, `peak_in_flight`)."""

    def __init__(
        self,
        script: Script | Reply = Answer(),
        *,
        timeout_s: float = 10.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self._script = always(script) if isinstance(script, Answer | Failure) else script
        self._clock = clock
        self._numbers = itertools.count()
        self.received: list[Received] = []
        self.in_flight = self.peak_in_flight = 0
        self.opened = self.closed = False  # whether `async with` entered it, and left it

    async def __aenter__(self) -> Self:
        self.opened = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.closed = True

    def clock(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | str | None,
        on_resend: Callable[[], None] | None,
        started: float,
    ) -> Response:
        body = data.encode() if isinstance(data, str) else (data or b"")
        request = Received(next(self._numbers), self.clock(), method, url, dict(headers), body)
        self.received.append(request)
        reply = self._script(request)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if reply.delay_s > 0:
                await asyncio.sleep(reply.delay_s)
        finally:
            self.in_flight -= 1
        if isinstance(reply, Failure):
            raise reply.error(f"scripted: {reply.error.kind}")
        if reply.resent and on_resend is not None:
            on_resend()
        headers_in = CIMultiDictProxy(CIMultiDict(reply.headers))
        return Response(reply.status, headers_in, reply.body, False, self.clock() - started)
