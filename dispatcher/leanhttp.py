"""A lean HTTP/1.1 client for `load`: keep-alive connections on asyncio protocols, responses
parsed by httptools (uvicorn's C parser, llhttp), requests written as one prepared byte string.

It does only what webhook delivery needs (one request at a time per connection, no redirects,
no cookies, no proxies, no decompression, no HEAD) and so costs a fraction of aiohttp's client
per request: with the whole engine around it, one `load` worker delivers over 2x what it does
on aiohttp against the same nginx (docs/benchmarks.md). What it does do, it does the way
aiohttp's client does, so that both give a receiver the same verdict
(tests/test_framing.py holds them to it): bodies framed per RFC 9112 section 6.3 (length,
chunked, or up to the close), interim 1xx answers skipped, aiohttp's limits on the size of a
response head and its parser leniencies, and a request that met a stale keep-alive connection
sent once more on a fresh one. Its failures are plain OSError, TimeoutError, ssl.SSLError or
`httptools.HttpParserError`; `dispatcher.transport.translate` maps them like aiohttp's.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

import aiohappyeyeballs
import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

# aiohttp's client defaults (ClientSession's max_line_size, max_field_size, max_headers).
MAX_LINE = 8190  # the status line's reason phrase
MAX_FIELD = 8190  # one header or trailer field, name and value together
MAX_HEADERS = 128  # header and trailer fields in one response
# httptools holds a header field in memory until the next one starts, so an endless one would
# grow without bound: this many bytes without a complete field, body byte or end of message
# make the response invalid (a status line and a first field at their limits, plus framing).
MAX_SILENT = MAX_LINE + MAX_FIELD + 1024


class BadResponse(httptools.HttpParserError):
    """The response broke one of aiohttp's limits or rules that llhttp does not enforce."""


@dataclass(frozen=True, slots=True)
class LeanResponse:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    truncated: bool


def _close_delimited(status: int, headers: CIMultiDict[str]) -> bool:
    """Whether the body runs until the server closes (RFC 9112 section 6.3, items 1 and 4-8)."""
    if status < 200 or status in (204, 304):
        return False
    coding = headers.get("Transfer-Encoding")
    if coding is not None:
        return not coding.rstrip(" \t").lower().endswith("chunked")
    return "Content-Length" not in headers


def _field_error(name: bytes, value: bytes, fields: int) -> str:
    if fields > MAX_HEADERS:
        return f"more than {MAX_HEADERS} header fields"
    if 0 in value:
        return f"NUL in the value of header {name[:100]!r}"
    return f"header field longer than {MAX_FIELD} bytes: {name[:100]!r}"


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one exchange at a time."""

    def __init__(self, max_body_bytes: int) -> None:
        self._max_body = max_body_bytes
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[LeanResponse] | None = None
        # One parser for the connection's life: llhttp moves from one message to the next.
        self._parser = httptools.HttpResponseParser(self)
        # The leniencies aiohttp's client runs llhttp with: the same bytes, the same verdict.
        self._parser.set_dangerous_leniencies(
            lenient_headers=True,
            lenient_optional_cr_before_lf=True,
            lenient_spaces_after_chunk_size=True,
        )
        self._headers: CIMultiDict[str] = CIMultiDict()
        self._body: list[bytes] = []
        self._size = self._line = self._fields = self._silent = 0
        self._in_head = True
        self._progress = False
        self.received = 0  # bytes of the current exchange's answer so far
        self.reusable = False
        self._feeding = False  # inside data_received: a complete answer waits for the rest
        self._complete: LeanResponse | None = None

    @property
    def closed(self) -> bool:
        # is_closing() turns true as soon as the peer's FIN is read, before connection_lost.
        return self._transport is None or self._transport.is_closing()

    # asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have the same API.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._waiter is None or self._waiter.done():
            return
        if (
            exc is None
            and not self._in_head
            and _close_delimited(self._parser.get_status_code(), self._headers)
        ):
            self._done(truncated=False)  # the close is how this body ends
        else:
            self._fail(exc or ConnectionResetError("the server closed the connection mid-response"))

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            # Nothing was asked: whatever this is, this connection's framing is lost.
            self.close()
            return
        self.received += len(data)
        self._progress = False
        fields = self._fields
        # An answer completed by these bytes is handed over only once all of them parsed: bytes
        # after it in the same read make it a broken answer, as aiohttp rules too.
        self._feeding = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            # A callback's own exception says more than httptools' "callback error".
            cause = exc.__context__
            self._complete = None
            self._fail(cause if isinstance(cause, BadResponse) else exc)
            self.close()
            return
        except httptools.HttpParserUpgrade:
            self._settle()
            self.close()  # a 101 came, and was the answer: what follows is not HTTP/1.1
            return
        finally:
            self._feeding = False
        self._settle()
        if self._progress or self._fields != fields:
            self._silent = 0
        else:
            self._silent += len(data)
            if self._silent > MAX_SILENT:
                self._fail(BadResponse(f"no end to a header field in {self._silent} bytes"))
                self.close()

    # httptools callbacks ------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._waiter is None or self._waiter.done():
            raise BadResponse("data after the end of the response")
        self._headers = CIMultiDict()
        self._body, self._size, self._line, self._fields = [], 0, 0, 0
        self._in_head = True

    def on_status(self, reason: bytes) -> None:
        self._line += len(reason)
        if self._line > MAX_LINE:
            raise BadResponse(f"status line longer than {MAX_LINE} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1  # also tells data_received that the head is moving on
        # `0 in value` finds a NUL ten times faster than `b"\x00" in value`.
        if len(name) + len(value) > MAX_FIELD or self._fields > MAX_HEADERS or 0 in value:
            raise BadResponse(_field_error(name, value, self._fields))
        if self._in_head:  # trailers are read (and limited) but not reported, as by aiohttp
            value = value.rstrip(b" \t")  # llhttp strips the whitespace before a value only
            try:
                self._headers.add(name.decode(), value.decode())
            except UnicodeDecodeError:  # decoded as aiohttp does: odd bytes, the same string
                self._headers.add(
                    name.decode("utf-8", "surrogateescape"),
                    value.decode("utf-8", "surrogateescape"),
                )

    def on_headers_complete(self) -> None:
        self._progress = True
        self._in_head = False

    def on_body(self, chunk: bytes) -> None:
        self._progress = True
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
        self._progress = True
        status = self._parser.get_status_code()
        if status < 200 and status != 101:
            return  # an interim answer (100 Continue, 103 Early Hints): the real one follows
        self.reusable = self._parser.should_keep_alive()
        self._done(truncated=False)

    # The exchange -------------------------------------------------------------------------------

    def _done(self, *, truncated: bool) -> None:
        if self._waiter is not None and not self._waiter.done():
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            self._complete = LeanResponse(
                self._parser.get_status_code(),
                CIMultiDictProxy(self._headers),
                body,
                truncated,
            )
            if not self._feeding:
                self._settle()

    def _settle(self) -> None:
        complete, self._complete = self._complete, None
        if complete is not None and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(complete)

    def _fail(self, exc: BaseException) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    async def exchange(self, request: bytes) -> LeanResponse:
        self._in_head, self._silent, self.received, self.reusable = True, 0, 0, False
        if self._transport is None or self._transport.is_closing():
            raise ConnectionResetError("the server closed the connection while it was idle")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class LeanClient:
    """Pools idle keep-alive connections per origin; opens a new one whenever none is idle, so
    the only limit on connections is the engine's in-flight limit."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | bool,
        max_body_bytes: int,
        socket_factory: aiohappyeyeballs.SocketFactoryType | None = None,
    ) -> None:
        self._ssl = ssl_context
        self._max_body = max_body_bytes
        # Makes (and binds) each new connection's socket: --source-address.
        self._socket_factory = socket_factory
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._urls: dict[str, tuple[tuple[str, str, int], bytes, bytes]] = {}

    def _target(self, url: str) -> tuple[tuple[str, str, int], bytes, bytes]:
        """The origin to connect to, the request target and the Host header's value."""
        cached = self._urls.get(url)
        if cached is None:
            parsed = URL(url)
            host = parsed.host or ""
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            # host_port_subcomponent leaves out any user:password@ (never sent) and the
            # default port, and brackets an IPv6 address.
            authority = parsed.host_port_subcomponent or host
            path = parsed.raw_path_qs.encode()
            cached = (parsed.scheme, host, port), path, authority.encode()
            if len(self._urls) < 1024:
                self._urls[url] = cached
        return cached

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        on_resend: Callable[[], None] | None = None,
    ) -> LeanResponse:
        """`on_resend` is told when the request goes out a second time (see below): the
        receiver may have read the first one, and every request it got must be counted."""
        origin, path, host = self._target(url)
        # UTF-8, as aiohttp writes header values; control characters were refused upstream.
        fields = "".join([f"{k}: {v}\r\n" for k, v in headers.items()]).encode()
        request = b"%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %d\r\n\r\n%s" % (
            method.encode(), path, host, fields, len(body), body,
        )  # fmt: skip
        connection = self._idle_connection(origin)
        while True:
            reused = connection is not None
            if connection is None:
                connection = await self._connect(origin)
            try:
                response = await connection.exchange(request)
            except ConnectionError:
                connection.close()
                if reused and connection.received == 0:
                    # The server closed an idle keep-alive connection as the request went out
                    # (RFC 9112 section 9.3.1): not the receiver's failure; once more, fresh.
                    connection = None
                    if on_resend is not None:
                        on_resend()
                    continue
                raise
            except BaseException:
                connection.close()
                raise
            break
        if connection.reusable and not response.truncated and not connection.closed:
            self._idle.setdefault(origin, []).append(connection)
        else:
            connection.close()
        return response

    def _idle_connection(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(self, origin: tuple[str, str, int]) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls = self._ssl if scheme == "https" else None
        secure = tls if tls is not False else _unverified()
        hostname = host if tls is not None else None
        if self._socket_factory is None:
            _, protocol = await loop.create_connection(
                lambda: _Connection(self._max_body),
                host,
                port,
                ssl=secure,
                server_hostname=hostname,
            )
            return protocol
        # asyncio binds one local_addr for every connection; the factory binds each socket to
        # its own. Connected as aiohttp connects: the same failures, the same verdicts.
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        sock = await aiohappyeyeballs.start_connection(
            infos, socket_factory=self._socket_factory, loop=loop
        )
        _, protocol = await loop.create_connection(
            lambda: _Connection(self._max_body), sock=sock, ssl=secure, server_hostname=hostname
        )
        return protocol

    def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()


@functools.cache
def _unverified() -> ssl.SSLContext:
    # Built once, and without the CA store (create_default_context loads it: up to 0.2 s of
    # CPU), which an unverified context never reads.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
