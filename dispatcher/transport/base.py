"""What every transport is: the `Transport` interface, its `Response`, and the rules every
implementation applies the same way before anything is sent."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Literal, Self

from multidict import CIMultiDictProxy
from yarl import URL

from .. import errors
from .translate import translate

HttpClient = Literal["aiohttp", "lean"]


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    truncated: bool  # the body went on past `max_body_bytes`; the rest was not read
    elapsed_s: float  # request start → body read (or cut)


# What aiohttp's request writer refuses in a header (any control character but HTAB), plus lone
# surrogates, which it would silently drop and the lean client could not encode.
_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")


def check_headers(headers: Mapping[str, str]) -> None:
    """Refuse, before anything is sent, a header that would forge more headers or a second
    request (a token holding CR/LF...): the same refusal for every transport, whatever the
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
    """The URL less any user:password@, which no transport sends (aiohttp would turn it into
    Basic auth that nobody asked for)."""
    if "@" not in url:
        return url
    parsed = URL(url)
    if parsed.raw_user is None and parsed.raw_password is None:
        return url
    return str(parsed.with_user(None))


class Transport:
    """Sends one request at a time for its caller, as an async context manager (connections
    live inside the `async with`).

    `request` is the same for every implementation: headers are checked and a URL's userinfo
    dropped before anything is sent, the whole exchange is bounded by the timeout, and the
    implementation's own failures (`failures`) become `DeliveryError`s. An implementation
    supplies `_send`, and `clock` if latencies are to be read on another clock than
    perf_counter (virtual time).

    Calling `Transport(...)` itself builds the HTTP implementation its `client` names, as
    `pathlib.Path()` builds a PosixPath: `AiohttpTransport` by default, `LeanTransport` for
    "lean". Both take the same options (`dispatcher.transport.options.HttpTransport`).
    """

    timeout_s: float
    # An implementation's own exceptions for "no usable answer"; anything else is a bug and
    # propagates as it is.
    failures: ClassVar[tuple[type[BaseException], ...]] = (OSError, TimeoutError)

    def __new__(cls, *args: Any, **kwargs: Any) -> Transport:
        if cls is not Transport:
            return super().__new__(cls)
        from .aio import AiohttpTransport  # they subclass this class: imported when called
        from .lean import LeanTransport

        # Python then runs the chosen class's __init__ with the same arguments.
        return super().__new__(
            LeanTransport if kwargs.get("client") == "lean" else AiohttpTransport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass

    def clock(self) -> float:
        """What `Response.elapsed_s` is measured on."""
        return time.perf_counter()

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
        started = self.clock()
        check_headers(headers)
        if "@" in url:
            url = without_userinfo(url)
        try:
            async with asyncio.timeout(timeout_s if timeout_s is not None else self.timeout_s):
                return await self._send(method, url, headers, data, on_resend, started)
        except self.failures as exc:
            raise translate(exc) from exc

    async def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | str | None,
        on_resend: Callable[[], None] | None,
        started: float,
    ) -> Response:
        """The exchange itself, inside the timeout; `started` is `clock()` at the request's
        start, for `Response.elapsed_s`."""
        raise NotImplementedError
