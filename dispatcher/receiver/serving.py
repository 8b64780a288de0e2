"""Serving to hostile clients: the one HTTP server setup shared by the sandbox receiver and the
platform mock (connection cap and deadlines in `connections`, logs in `quietlog`).

`serve()` runs an aiohttp application behind `GuardedSite`, with aiohttp's own limits set: head
line sizes and counts, the keep-alive idle timeout. `guard_middleware` (which the application
must carry) tells each connection when a request head has arrived, and reads the body under the
same deadline and a size limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from ..errors import ConfigError
from ..httpjson import ErrorResponse
from .connections import Gate, Guarded, ServerLimits
from .quietlog import Log, describe

try:
    import resource
except ImportError:  # Windows: no RLIMIT_NOFILE to fit under
    resource = None  # type: ignore[assignment]

__all__ = ["BODY", "Gate", "Served", "ServerLimits", "check_port", "fit_connections", "serve"]

DEFAULT_MAX_CONNECTIONS = 1000
DEFAULT_READ_TIMEOUT_S = 10.0
# Longer than the keep-alive of common client pools (aiohttp's is 15 s), so that a client
# seldom reuses a connection at the very moment the server closes it.
DEFAULT_IDLE_TIMEOUT_S = 75.0
# The listen backlog, which is also how many connections the event loop may accept in one go
# before any of them can be refused: each holds a descriptor until it is closed. Measured on
# loopback: 500 simultaneous connects (the engine's largest --concurrency) all get through at
# once; 800 leave some to the kernel's one-second SYN retry, as they would with any backlog
# that fits the descriptor budget.
BACKLOG = 128
# Descriptors the process needs besides its connections (stdio, the loop's epoll and
# self-pipe, the listening socket, files), plus one accept burst. Measured: 3,000 simultaneous
# slowloris connections under `ulimit -n 1024` make accept() fail with EMFILE at a cap of 900,
# never at 832 (= 1024 - 64 - BACKLOG).
FD_RESERVE = 64 + BACKLOG
# Request head limits, handed to aiohttp's parser: a line longer than MAX_LINE, or more than
# MAX_HEADERS header lines, is answered 400 and the connection closed. Together they bound what
# one connection can make the server buffer before its head completes (about 256 KiB).
MAX_LINE = 8190
MAX_HEADERS = 32
LINGER_S = 2.0
# On shutdown, requests in progress get this long to finish.
SHUTDOWN_S = 5.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# The request's body, once the guard has read all of it: set only then, so that what runs
# around the guard (the receiver's --record) can tell a body it refused from an empty one.
BODY = web.RequestKey("body", bytes)


def check_port(port: int, flag: str = "--port") -> None:
    if not 0 <= port <= 65535:
        raise ConfigError(f"{flag} = {port}: must be between 0 and 65535")


def open_file_limit() -> int | None:
    """The soft limit on open descriptors, or None when there is none (or no way to know)."""
    if resource is None:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def fit_connections(requested: int | None, *, outgoing: int = 0) -> tuple[int, str | None]:
    """The connection cap to use, and why when a cap that was asked for had to be lowered.

    A cap the open-file limit cannot hold protects nothing: accept() fails with EMFILE first
    (and uvloop then retries in a loop). So the cap leaves FD_RESERVE descriptors, plus
    `outgoing` for the process's own outgoing connections (the platform's notifications), under
    the soft limit. The default, 1000, becomes 832 under `ulimit -n 1024`.
    """
    wanted = DEFAULT_MAX_CONNECTIONS if requested is None else requested
    limit = open_file_limit()
    if limit is None:
        return wanted, None
    room = max(1, limit - FD_RESERVE - outgoing)
    if wanted <= room:
        return wanted, None
    note = None
    if requested is not None:
        note = (
            f"--max-connections {requested} lowered to {room}: the open-file limit is {limit}, "
            f"and {FD_RESERVE + outgoing} descriptors are kept for the process itself"
        )
    return room, note


# The middleware ---------------------------------------------------------------------------------


def guard_middleware(limits: ServerLimits, error: ErrorResponse) -> Any:
    """Marks the request head as arrived, then reads the body under the read deadline and the
    size limit, so that handlers find it in memory (`request.read()`, `request.post()`).

    `error(status, message)` builds an error response in the application's own shape.
    """

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        transport = request.transport
        guarded = transport.get_protocol() if transport is not None else None
        if not isinstance(guarded, Guarded):
            guarded = None  # served some other way (a test's own runner): nothing to tell
        if guarded is not None:
            guarded.request_started()
        try:
            problem = await _read_body(request, limits, error)
            if problem is not None:
                if guarded is not None:
                    guarded.gate.bodies_refused += 1
                return problem
            request[BODY] = await request.read()  # already in memory: the read above kept it
            return await handler(request)
        finally:
            if guarded is not None:
                guarded.request_finished()

    return guard


async def _read_body(
    request: web.Request, limits: ServerLimits, error: ErrorResponse
) -> web.Response | None:
    if not request.body_exists:
        return None
    limit = limits.max_body_bytes
    too_large = f"request body larger than {limit} bytes"
    if request.content_length is not None and request.content_length > limit:
        return _closing(error(413, too_large))
    try:
        async with asyncio.timeout(limits.read_timeout_s):
            await request.read()
    except TimeoutError:
        return _closing(error(408, f"request body not received within {limits.read_timeout_s:g} s"))
    except web.HTTPRequestEntityTooLarge:
        return _closing(error(413, too_large))  # chunked: no length said up front
    except (ConnectionError, RequestPayloadError) as exc:
        return _closing(error(400, f"request body incomplete: {describe(exc)}"))
    return None


def _closing(response: web.Response) -> web.Response:
    # The rest of the body is not worth waiting for: the connection ends with this answer.
    response.force_close()
    return response


# Serving ---------------------------------------------------------------------------------------


class GuardedSite(web.BaseSite):
    """`web.TCPSite`, with every connection behind `Guarded`."""

    __slots__ = ("_bound", "_gate", "_host", "_port")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, gate: Gate) -> None:
        super().__init__(runner, backlog=BACKLOG)
        self._host, self._port, self._gate = host, port, gate
        self._bound = port

    @property
    def name(self) -> str:
        return f"http://{url_host(self._host)}:{self._bound}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        gate = self._gate
        self._server = await asyncio.get_running_loop().create_server(
            lambda: Guarded(server, gate),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=True,
        )
        if self._server.sockets:
            self._bound = self._server.sockets[0].getsockname()[1]


@dataclass
class Served:
    runner: web.AppRunner
    url: str
    gate: Gate

    async def close(self) -> None:
        await self.runner.cleanup()


async def serve(
    app: web.Application, host: str, port: int, limits: ServerLimits, log: Log
) -> Served:
    """Listen on `host:port` (0: a free port). `app` must carry `guard_middleware(limits, ...)`
    for the head deadline to stop at each request, and for bodies to be bounded."""
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_S,
        # aiohttp's keep-alive timer closes a connection idle this long between requests.
        keepalive_timeout=limits.idle_timeout_s,
        # After an answer given before the body was read, aiohttp drains the body this long
        # (so the client reads the answer instead of a reset); a hostile body gets no longer.
        lingering_time=min(limits.read_timeout_s, LINGER_S),
        max_line_size=MAX_LINE,
        max_field_size=MAX_LINE,
        max_headers=MAX_HEADERS,
        logger=log,
    )
    await runner.setup()
    gate = Gate(limits, log)
    try:
        await GuardedSite(runner, host, port, gate).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound = runner.addresses[0][1] if runner.addresses else port
    return Served(runner, f"http://{url_host(host)}:{bound}", gate)


def url_host(host: str) -> str:
    """A host as a URL writes it: an IPv6 address in brackets (http://[::1]:8080)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
