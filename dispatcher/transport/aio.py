"""The transport on aiohttp's client: the default for everything but `load`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import ClassVar, Self

import aiohttp
from aiohttp.connector import Connection
from aiohttp.tracing import Trace

from .base import HttpClient, Response
from .options import HttpTransport
from .translate import _disconnected

# Whether the connection the current request went out on had carried one before: set by
# _Connector in the request's own task, read by AiohttpTransport._send when the request fails.
_REUSED: ContextVar[bool] = ContextVar("webhook_sim_reused", default=False)


class _Connector(aiohttp.TCPConnector):
    """aiohttp's connector, telling each request whether its connection is a reused one.

    aiohttp's tracing (on_connection_reuseconn) would tell as much, but tracing a request costs
    a fifth of what the request itself does.
    """

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's signature
    ) -> Connection:
        connection = await super().connect(req, traces, timeout)
        protocol = connection.protocol
        if protocol is not None:
            _REUSED.set(getattr(protocol, "webhook_sim_used", False))
            protocol.webhook_sim_used = True  # type: ignore[attr-defined]
        return connection


class AiohttpTransport(HttpTransport):
    """A ClientSession with no connection cap (`limit=0`), no redirects, no decompression."""

    client: ClassVar[HttpClient] = "aiohttp"
    failures: ClassVar[tuple[type[BaseException], ...]] = (
        aiohttp.ClientError,
        OSError,
        TimeoutError,
    )
    _session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        # Each new connection's socket is made and bound by the source addresses, when given
        # (aiohttp's own local_addr is one address for every connection).
        factory = self._sources.socket if self._sources is not None else None
        connector = _Connector(limit=0, limit_per_host=0, ssl=self._ssl, socket_factory=factory)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._base_headers or None,
            # The deadline is Transport.request's (asyncio.timeout), covering connect, send and
            # read.
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding",),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | str | None,
        on_resend: Callable[[], None] | None,
        started: float,
    ) -> Response:
        if self._session is None:
            raise RuntimeError("Transport used outside 'async with'")
        retried = False
        while True:
            _REUSED.set(False)
            try:
                async with self._session.request(
                    method, url, headers=headers, data=data, allow_redirects=False
                ) as resp:
                    _REUSED.set(False)  # an answer began: what follows is the receiver's
                    body, truncated = await self._read_bounded(resp)
                    if truncated:
                        # An endless or huge body must not hold the connection: drop it.
                        resp.close()
                    elapsed = self.clock() - started
                    return Response(resp.status, resp.headers, body, truncated, elapsed)
            except aiohttp.ClientConnectionError as exc:
                if retried or not (_REUSED.get() and _disconnected(exc)):
                    raise
                # A keep-alive connection the server closed while it was idle, found out only
                # once the request was on it: not the receiver's failure. aiohttp sends such a
                # request again itself, but only an idempotent one (RFC 9112 section 9.3.1); a
                # webhook POST is sent again here, once, as the lean client does, so both
                # clients give the same verdict.
                retried = True
                if on_resend is not None:
                    on_resend()

    async def _read_bounded(self, resp: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        limit = self.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = await resp.content.read(min(65536, limit - size))
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)
            size += len(chunk)
        if resp.content.at_eof():
            return b"".join(chunks), False
        # Exactly at the limit with EOF not yet seen: one more read tells whether anything is left.
        extra = await resp.content.read(1)
        return b"".join(chunks), bool(extra)
