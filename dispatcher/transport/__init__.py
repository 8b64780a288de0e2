"""HTTP on the wire: the only package that sends requests, and the one place the clients'
exceptions become webhook-sim's own (`dispatcher.errors`).

`Transport` is what everything sends through (the engine, delivery, auth, checks): one request
in, a `Response` out, or a `DeliveryError`. Two implementations speak HTTP, each in its own
module: `AiohttpTransport` (aiohttp's client) and `LeanTransport` (`dispatcher.leanhttp`, the
one `load` uses); `dispatcher.testing.memory.MemoryTransport` answers from a script instead.
`Transport(..., client="lean")` builds the HTTP implementation that `client` names.
"""

from .aio import AiohttpTransport
from .base import HttpClient, Response, Transport, check_headers, without_userinfo
from .lean import LeanTransport
from .options import HttpTransport, ssl_context
from .translate import translate

__all__ = [
    "AiohttpTransport",
    "HttpClient",
    "HttpTransport",
    "LeanTransport",
    "Response",
    "Transport",
    "check_headers",
    "ssl_context",
    "translate",
    "without_userinfo",
]
