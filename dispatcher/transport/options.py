"""What both HTTP implementations share: their options, TLS and the User-Agent they send."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from ..binding import SourceAddresses
from .base import HttpClient, Transport, check_headers


def ssl_context(*, ca_bundle: Path | None, insecure: bool) -> ssl.SSLContext | bool:
    if insecure:
        return False
    if ca_bundle is None:
        return _system_context()
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=str(ca_bundle))
    return context


@functools.cache
def _system_context() -> ssl.SSLContext:
    """The system's CAs, loaded once per process: loading them takes 25-35 ms, which every
    Transport paid again (the check suite opens dozens). A context with a private CA bundle is
    built each time: the file may change between runs."""
    return ssl.create_default_context()


class HttpTransport(Transport):
    """A transport that speaks HTTP/1.1, shaped for webhook delivery.

    Neither implementation caps its connections: the engine's in-flight limit is the only
    queue, so no request waits for a pooled connection inside its measured timeout. Redirects
    are never followed: the contract counts a 3xx as a failure.

    Both get the same requests and give the same verdicts (tests/test_framing.py): headers with
    control characters are refused before either sends anything (`Transport.request`); neither
    sends a URL's user:password@; a request that met a keep-alive connection the server had
    closed is sent once more on a fresh one.
    """

    client: ClassVar[HttpClient]

    def __init__(
        self,
        *,
        timeout_s: float,
        max_body_bytes: int = 65536,
        ca_bundle: Path | None = None,
        insecure: bool = False,
        user_agent: str | None = None,
        client: HttpClient | None = None,  # what `Transport(...)` chose this class by
        source_addresses: Sequence[str] = (),  # new connections bind to them in turn
    ) -> None:
        if client is not None and client != self.client:
            raise ValueError(f"{type(self).__name__} is the {self.client!r} client, not {client!r}")
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self._ssl = ssl_context(ca_bundle=ca_bundle, insecure=insecure)
        self._base_headers = {"User-Agent": user_agent} if user_agent else {}
        check_headers(self._base_headers)
        self._sources = SourceAddresses(source_addresses) if source_addresses else None
