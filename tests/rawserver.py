"""A raw TCP server on 127.0.0.1 that answers with scripted bytes, for the receivers no HTTP
framework would play: HTTP/1.0 bodies ended by the close, interim 1xx answers, headers that
never end, a reset (RST) instead of an answer...

    async def script(conn: RawConnection) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.0 200 OK\\r\\n\\r\\n", b"body")
        conn.close()

    async with RawServer(script) as server:
        ...  # request server.url; server.connections holds what each connection received

The script runs once per accepted connection, in the test's own event loop, so it is
sequenced by awaiting events and futures rather than by sleeping. `send` writes its pieces
as separate TCP segments and lets the loop turn between them, so that the client usually
reads them one by one; a test's verdict never depends on that (segments may merge).
An exception a script raises (but for the client going away) fails the test on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable
from types import TracebackType

Script = Callable[["RawConnection"], Awaitable[None]]

# Loop turns after each piece `send` writes: the first lets the client's read run, the rest
# are margin for loops that schedule reads one step later (all are instantaneous).
TURNS = 3


async def turns(n: int = TURNS) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


class RawConnection:
    """One accepted connection, as seen by the server's script."""

    def __init__(self, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.index = index  # 0 for the server's first connection
        self.reader, self.writer = reader, writer
        self.received = bytearray()  # every byte the client sent on this connection
        self.requests: list[bytes] = []  # each request read by `request()`, head and body
        self.sent = 0  # bytes written
        self.peer_closed = asyncio.Event()  # the client closed or reset the connection
        self.finished = asyncio.Event()  # the script returned (its connection closed)

    async def request(self) -> bytes | None:
        """Read one request (its head, then a Content-Length body); None if the client closed
        the connection first."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            if isinstance(exc, asyncio.IncompleteReadError):
                self.received += exc.partial
            self.peer_closed.set()
            return None
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length)
        self.received += head + body
        self.requests.append(head + body)
        return head + body

    async def send(self, *pieces: bytes) -> None:
        """Write each piece as its own segment, letting the client read it before the next."""
        for piece in pieces:
            self.writer.write(piece)
            self.sent += len(piece)
            await self.writer.drain()
            await turns()

    async def drip(self, data: bytes) -> None:
        """Write `data` one byte at a time."""
        await self.send(*(data[i : i + 1] for i in range(len(data))))

    async def wait_closed(self) -> None:
        """Read (and keep) whatever comes until the client closes or resets the connection."""
        try:
            while chunk := await self.reader.read(65536):
                self.received += chunk
        except ConnectionError:
            pass
        self.peer_closed.set()

    def close(self) -> None:
        """Close the connection cleanly (FIN)."""
        self.writer.close()

    def reset(self) -> None:
        """Drop the connection with an RST: SO_LINGER 0, then close."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def hang(self) -> None:
        """Answer nothing, and keep the connection until the client gives up on it."""
        await self.wait_closed()


class RawServer:
    """Serves `script` on 127.0.0.1 (a free port) to every connection, until the block ends."""

    def __init__(self, script: Script) -> None:
        self._script = script
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.connections: list[RawConnection] = []
        self.accepted = asyncio.Condition()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def received(self) -> bytes:
        """Every byte received, over all connections, in the order they were accepted."""
        return b"".join(bytes(c.received) for c in self.connections)

    async def connection(self, index: int) -> RawConnection:
        """The `index`-th connection (0 for the first), once it has been accepted."""
        async with self.accepted:
            await self.accepted.wait_for(lambda: len(self.connections) > index)
        return self.connections[index]

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A task of our own rather than asyncio's for a coroutine callback: ours can be
        # cancelled at the end without asyncio logging it as an error.
        conn = RawConnection(len(self.connections), reader, writer)
        self.connections.append(conn)
        self._tasks.append(asyncio.get_running_loop().create_task(self._serve(conn)))

    async def _serve(self, conn: RawConnection) -> None:
        async with self.accepted:
            self.accepted.notify_all()
        try:
            await self._script(conn)
        except ConnectionError:
            conn.peer_closed.set()  # the client went away mid-script: its own business
        finally:
            conn.writer.close()
            conn.finished.set()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for conn in self.connections:
            conn.writer.close()
        await turns()  # scripts reading or writing see the close and end on their own
        for task in self._tasks:
            task.cancel()  # the rest wait on something that will not come
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._server.wait_closed()
        failures = [
            r
            for r in results
            if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
        ]
        if failures and exc is None:
            raise failures[0]
