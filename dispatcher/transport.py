"""HTTP on the wire: the only module that sends requests (through aiohttp's client, or the lean
client `load` uses), and the one place their exceptions become webhook-sim's own
(`dispatcher.errors`)."""

from __future__ import annotations

import asyncio
import errno
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

import aiohttp
import httptools
from multidict import CIMultiDictProxy

from . import errors
from .leanhttp import LeanClient

HttpClient = Literal["aiohttp", "lean"]


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    truncated: bool  # the body went on past `max_body_bytes`; the rest was not read
    elapsed_s: float  # request start → body read (or cut)


def translate(exc: BaseException) -> errors.DeliveryError:
    """Map a client-side failure onto the project's exception tree. Never sees CancelledError."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return errors.RequestTimeout("no response within the timeout")
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return errors.TLSError(message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return errors.ConnectionRefused(f"connection refused by {exc.host}:{exc.port}")
        return errors.ConnectError(message)
    if isinstance(exc, ConnectionRefusedError):
        return errors.ConnectionRefused(message)
    if isinstance(exc, httptools.HttpParserError):
        return errors.ProtocolError(f"not a valid HTTP response: {message}")
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return errors.ConnectionReset(message)
    if isinstance(exc, ConnectionResetError | BrokenPipeError) or (
        isinstance(exc, OSError) and exc.errno in (errno.ECONNRESET, errno.EPIPE)
    ):
        return errors.ConnectionReset(message)
    if isinstance(exc, aiohttp.ClientResponseError):
        return errors.ProtocolError(message)
    if isinstance(exc, OSError) and not isinstance(exc, aiohttp.ClientError):
        return errors.ConnectError(message)  # DNS, unreachable network
    return errors.DeliveryError(message)


def ssl_context(*, ca_bundle: Path | None, insecure: bool) -> ssl.SSLContext | bool:
    if insecure:
        return False
    context = ssl.create_default_context()
    if ca_bundle is not None:
        context.load_verify_locations(cafile=str(ca_bundle))
    return context


class Transport:
    """A client session shaped for webhook delivery.

    The connector has no connection cap of its own (`limit=0`): the engine's in-flight limit
    is the only queue, so no request waits for a pooled connection inside its measured timeout.
    Redirects are never followed: the contract counts a 3xx as a failure.
    """

    def __init__(
        self,
        *,
        timeout_s: float,
        max_body_bytes: int = 65536,
        ca_bundle: Path | None = None,
        insecure: bool = False,
        user_agent: str | None = None,
        client: HttpClient = "aiohttp",
    ) -> None:
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self._ssl = ssl_context(ca_bundle=ca_bundle, insecure=insecure)
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._lean = (
            LeanClient(ssl_context=self._ssl, max_body_bytes=max_body_bytes)
            if client == "lean"
            else None
        )
        self._base_headers = {"User-Agent": user_agent} if user_agent else {}

    async def __aenter__(self) -> Transport:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ssl=self._ssl)
        headers = {"User-Agent": self._user_agent} if self._user_agent else None
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=headers,
            # The deadline is ours (asyncio.timeout below), covering connect, send and read.
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
        if self._lean is not None:
            self._lean.close()

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        data: bytes | str | None = None,
        timeout_s: float | None = None,
    ) -> Response:
        """Send one request; raise a `DeliveryError` for anything that is not an HTTP answer."""
        if self._session is None:
            raise RuntimeError("Transport used outside 'async with'")
        started = time.perf_counter()
        if self._lean is not None:
            return await self._lean_request(method, url, headers, data, timeout_s, started)
        try:
            async with asyncio.timeout(timeout_s if timeout_s is not None else self.timeout_s):
                async with self._session.request(
                    method, url, headers=headers, data=data, allow_redirects=False
                ) as resp:
                    body, truncated = await self._read_bounded(resp)
                    if truncated:
                        # An endless or huge body must not hold the connection: drop it.
                        resp.close()
                    return Response(
                        resp.status, resp.headers, body, truncated, time.perf_counter() - started
                    )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise translate(exc) from exc

    async def _lean_request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | str | None,
        timeout_s: float | None,
        started: float,
    ) -> Response:
        assert self._lean is not None
        body = data.encode() if isinstance(data, str) else (data or b"")
        try:
            async with asyncio.timeout(timeout_s if timeout_s is not None else self.timeout_s):
                resp = await self._lean.request(
                    method, url, {**self._base_headers, **headers}, body
                )
        except (OSError, TimeoutError, httptools.HttpParserError) as exc:
            raise translate(exc) from exc
        return Response(
            resp.status, resp.headers, resp.body, resp.truncated, time.perf_counter() - started
        )

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
