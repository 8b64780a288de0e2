"""A lean HTTP/1.1 client for `load`: keep-alive connections on asyncio protocols, responses
parsed by httptools (uvicorn's C parser), requests written as one prepared byte string.

It does only what webhook delivery needs (one request at a time per connection, no redirects,
no cookies, no proxies, no decompression) and so costs a fraction of aiohttp's client per
request: with the whole engine around it, one `load` worker delivers 2.4x what it does on
aiohttp against the same nginx (docs/benchmarks.md). Its failures are plain OSError,
TimeoutError, ssl.SSLError or `HttpParserError`; `dispatcher.transport.translate` maps them like
aiohttp's.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL


@dataclass(frozen=True, slots=True)
class LeanResponse:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    truncated: bool


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one exchange at a time."""

    def __init__(self, max_body_bytes: int) -> None:
        self._max_body = max_body_bytes
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[LeanResponse] | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._headers: CIMultiDict[str] = CIMultiDict()
        self._body: list[bytes] = []
        self._size = 0
        self.reusable = False
        self.closed = False

    # asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have the same API.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("the server closed the connection mid-response"))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)
            self.close()

    # httptools callbacks ------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_body(self, chunk: bytes) -> None:
        room = self._max_body - self._size
        if len(chunk) > room:
            # An endless or huge body must not hold the sender: answer with what fits, drop
            # the connection.
            self._body.append(chunk[:room])
            self._size = self._max_body
            self._done(truncated=True)
            self.close()
            return
        self._body.append(chunk)
        self._size += len(chunk)

    def on_message_complete(self) -> None:
        self.reusable = self._parser.should_keep_alive()
        self._done(truncated=False)

    # The exchange -------------------------------------------------------------------------------

    def _done(self, *, truncated: bool) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(
                LeanResponse(
                    self._parser.get_status_code(),
                    CIMultiDictProxy(self._headers),
                    b"".join(self._body),
                    truncated,
                )
            )

    def _fail(self, exc: BaseException) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    async def exchange(self, request: bytes) -> LeanResponse:
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._headers = CIMultiDict()
        self._body, self._size, self.reusable = [], 0, False
        self._transport.write(request)
        return await self._waiter

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class LeanClient:
    """Pools idle keep-alive connections per origin; opens a new one whenever none is idle, so
    the only limit on connections is the engine's in-flight limit."""

    def __init__(self, *, ssl_context: ssl.SSLContext | bool, max_body_bytes: int) -> None:
        self._ssl = ssl_context
        self._max_body = max_body_bytes
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._urls: dict[str, tuple[tuple[str, str, int], bytes]] = {}

    def _target(self, url: str) -> tuple[tuple[str, str, int], bytes]:
        cached = self._urls.get(url)
        if cached is None:
            parsed = URL(url)
            host = parsed.host or ""
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            authority = parsed.raw_authority or host
            cached = (parsed.scheme, host, port), f"{parsed.raw_path_qs} {authority}".encode()
            if len(self._urls) < 1024:
                self._urls[url] = cached
        return cached

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> LeanResponse:
        origin, target = self._target(url)
        path, host = target.split(b" ", 1)
        lines = [b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (method.encode(), path, host)]
        lines += [f"{k}: {v}\r\n".encode("latin-1") for k, v in headers.items()]
        lines.append(b"Content-Length: %d\r\n\r\n" % len(body))
        lines.append(body)
        connection = await self._connection(origin)
        try:
            response = await connection.exchange(b"".join(lines))
        except BaseException:
            connection.close()
            raise
        if connection.reusable and not response.truncated and not connection.closed:
            self._idle.setdefault(origin, []).append(connection)
        else:
            connection.close()
        return response

    async def _connection(self, origin: tuple[str, str, int]) -> _Connection:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls = self._ssl if scheme == "https" else None
        _, protocol = await loop.create_connection(
            lambda: _Connection(self._max_body),
            host,
            port,
            ssl=tls if tls is not False else _unverified(),
            server_hostname=host if tls is not None else None,
        )
        return protocol

    def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
