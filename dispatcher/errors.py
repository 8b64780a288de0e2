"""The one exception tree of webhook-sim.

Everything the engine raises or records is one of these; aiohttp's own exceptions are translated
in exactly one place (`dispatcher.transport`), so the rest of the code never imports aiohttp to
find out what went wrong.
"""

from __future__ import annotations


class WebhookSimError(Exception):
    """Base of every error webhook-sim raises on purpose."""


class ConfigError(WebhookSimError):
    """Bad input from a flag, a config file or a scenario: exit code 2, one line, no traceback."""


class DeliveryError(WebhookSimError):
    """One attempt at a request failed before a usable HTTP response arrived.

    `kind` is the short, stable name reports count attempts by.
    """

    kind = "error"


class RequestTimeout(DeliveryError):
    kind = "timeout"


class ConnectionRefused(DeliveryError):
    kind = "refused"


class ConnectionReset(DeliveryError):
    kind = "reset"


class TLSError(DeliveryError):
    kind = "tls"


class ConnectError(DeliveryError):
    """Any other failure to open a connection (DNS, unreachable network)."""

    kind = "connect"


class ProtocolError(DeliveryError):
    """The peer answered with something that is not valid HTTP."""

    kind = "protocol"


class TokenError(DeliveryError):
    """The OAuth2 token endpoint did not hand out a token; no notification can be sent."""

    kind = "token"


class InvalidHeader(DeliveryError):
    """A request header name or value holds a control character (CR, LF, NUL...): sent as is,
    it would forge headers or a second request, so the request is refused before it is sent."""

    kind = "invalid-header"
