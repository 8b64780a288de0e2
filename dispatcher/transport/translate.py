"""The one place a client's failure becomes webhook-sim's own (`dispatcher.errors`)."""

from __future__ import annotations

import errno
import ssl

import aiohttp
import httptools

from .. import errors


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
