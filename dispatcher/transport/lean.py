"""The transport on the lean client (`dispatcher.leanhttp`): what `load` sends with."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import ClassVar, Self

import httptools

from ..leanhttp import LeanClient
from .base import HttpClient, Response
from .options import HttpTransport


class LeanTransport(HttpTransport):
    client: ClassVar[HttpClient] = "lean"
    failures: ClassVar[tuple[type[BaseException], ...]] = (
        OSError,
        TimeoutError,
        httptools.HttpParserError,
    )
    _lean: LeanClient | None = None

    async def __aenter__(self) -> Self:
        self._lean = LeanClient(
            ssl_context=self._ssl,
            max_body_bytes=self.max_body_bytes,
            socket_factory=self._sources.socket if self._sources is not None else None,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._lean is not None:
            self._lean.close()
            self._lean = None

    async def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | str | None,
        on_resend: Callable[[], None] | None,
        started: float,
    ) -> Response:
        if self._lean is None:
            raise RuntimeError("Transport used outside 'async with'")
        body = data.encode() if isinstance(data, str) else (data or b"")
        if self._base_headers:
            headers = {**self._base_headers, **headers}
        resp = await self._lean.request(method, url, headers, body, on_resend)
        return Response(
            resp.status, resp.headers, resp.body, resp.truncated, self.clock() - started
        )
