"""HTTP on the wire: the only module that sends requests (through aiohttp's client, or the lean
client `load` uses), and the one place their exceptions become webhook-sim's own
(`dispatcher.errors`)."""

from __future__ import annotations

import asyncio
import errno
import re
import ssl
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

import aiohttp
import httptools
from aiohttp.connector import Connection
from aiohttp.tracing import Trace
from multidict import CIMultiDictProxy
from yarl import URL

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


def _disconnected(exc: BaseException | None) -> bool:
    """The server closed or reset the connection under the request, however the client words
    it: aiohttp on uvloop reports a write to a connection closing under it as ClientOSError
    with no errno, caused by a ConnectionResetError."""
    while exc is not None:
        if isinstance(
            exc, aiohttp.ServerDisconnectedError | ConnectionResetError | BrokenPipeError
        ) or (isinstance(exc, OSError) and exc.errno in (errno.ECONNRESET, errno.EPIPE)):
            return True
        exc = exc.__cause__
    return False


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
    if isinstance(exc, aiohttp.ClientPayloadError) or _disconnected(exc):
        return errors.ConnectionReset(message)
    if isinstance(exc, aiohttp.ClientResponseError):
        return errors.ProtocolError(message)
    if isinstance(exc, OSError) and not isinstance(exc, aiohttp.ClientError):
        return errors.ConnectError(message)  # DNS, unreachable network
    return errors.DeliveryError(message)


# What aiohttp's request writer refuses in a header (any control character but HTAB), plus lone
# surrogates, which it would silently drop and the lean client could not encode.
_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")


def check_headers(headers: Mapping[str, str]) -> None:
    """Refuse, before anything is sent, a header that would forge more headers or a second
    request (a token holding CR/LF...): the same refusal for both clients, whatever the
    header's source."""
    for name, value in headers.items():
        # isprintable() is false for every forbidden character (and for a few allowed ones,
        # such as HTAB): a quick pass for nearly every header, the regex for the rest.
        if not (name.isprintable() and value.isprintable()) and (
            _FORBIDDEN.search(name) or _FORBIDDEN.search(value)
        ):
            raise errors.InvalidHeader(
                f"header {name[:100]!r} holds a control character; the request was not sent"
            )


def without_userinfo(url: str) -> str:
    """The URL less any user:password@, which neither client sends (aiohttp would turn it into
    Basic auth that nobody asked for)."""
    if "@" not in url:
        return url
    parsed = URL(url)
    if parsed.raw_user is None and parsed.raw_password is None:
        return url
    return str(parsed.with_user(None))


# Whether the connection the current aiohttp request went out on had carried one before: set by
# _Connector in the request's own task, read by Transport.request when the request fails.
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

    Both clients get the same requests and give the same verdicts (tests/test_framing.py):
    headers with control characters are refused here, before either sends anything; neither
    sends a URL's user:password@; a request that met a keep-alive connection the server had
    closed is sent once more on a fresh one.
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
        check_headers(self._base_headers)

    async def __aenter__(self) -> Transport:
        connector = _Connector(limit=0, limit_per_host=0, ssl=self._ssl)
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
        on_resend: Callable[[], None] | None = None,
    ) -> Response:
        """Send one request; raise a `DeliveryError` for anything that is not an HTTP answer.
        `on_resend` is told when a stale keep-alive connection made it go out once more."""
        if self._session is None:
            raise RuntimeError("Transport used outside 'async with'")
        started = time.perf_counter()
        check_headers(headers)
        if "@" in url:
            url = without_userinfo(url)
        if self._lean is not None:
            return await self._lean_request(
                method, url, headers, data, timeout_s, started, on_resend
            )
        try:
            async with asyncio.timeout(timeout_s if timeout_s is not None else self.timeout_s):
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
                            elapsed = time.perf_counter() - started
                            return Response(resp.status, resp.headers, body, truncated, elapsed)
                    except aiohttp.ClientConnectionError as exc:
                        if retried or not (_REUSED.get() and _disconnected(exc)):
                            raise
                        # A keep-alive connection the server closed while it was idle, found
                        # out only once the request was on it: not the receiver's failure.
                        # aiohttp sends such a request again itself, but only an idempotent one
                        # (RFC 9112 section 9.3.1); a webhook POST is sent again here, once, as
                        # the lean client does, so both clients give the same verdict.
                        retried = True
                        if on_resend is not None:
                            on_resend()
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
        on_resend: Callable[[], None] | None,
    ) -> Response:
        assert self._lean is not None
        body = data.encode() if isinstance(data, str) else (data or b"")
        if self._base_headers:
            headers = {**self._base_headers, **headers}
        try:
            async with asyncio.timeout(timeout_s if timeout_s is not None else self.timeout_s):
                resp = await self._lean.request(method, url, headers, body, on_resend)
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
