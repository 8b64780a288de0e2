"""Both HTTP clients give a receiver the same verdict, byte for byte.

Each case scripts a receiver's exact bytes (tests/rawserver.py) and sends the same request
through LeanTransport and AiohttpTransport: both must classify the attempt the same way (the
status, or the error kind), with the same body and truncated flag, and that classification must
be the expected one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvloop

from dispatcher.auth import ApiKeyAuth, Auth, NoAuth, OAuth2ClientCredentials
from dispatcher.delivery import AttemptResult, attempt
from dispatcher.errors import DeliveryError
from dispatcher.payloads import PayloadFactory, notification
from dispatcher.transport import (
    AiohttpTransport,
    HttpClient,
    HttpTransport,
    LeanTransport,
    Transport,
)

from .conftest import closed_port
from .rawserver import RawConnection, RawServer

CLIENTS: tuple[HttpClient, ...] = ("lean", "aiohttp")
SAFETY_S = 15.0  # only a safety net: every case ends on the server's bytes, not on a clock
JSON = {"Content-Type": "application/json"}
Outcome = tuple[object, ...]
Run = Callable[[Coroutine[Any, Any, Any]], Any]  # asyncio.run, or uvloop.run
# The commands run on uvloop where it is installed (dispatcher.load.new_loop), else on asyncio's
# own loop: both are tested, as they differ in how and when a client hears of a close.
LOOPS: dict[str, Run] = {
    "asyncio": asyncio.run,
    "uvloop": uvloop.run,
}


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Run:
    return LOOPS[request.param]


IMPLEMENTATIONS: dict[HttpClient, type[HttpTransport]] = {
    "lean": LeanTransport,
    "aiohttp": AiohttpTransport,
}


def transport(client: HttpClient, max_body_bytes: int = 65536) -> HttpTransport:
    # Plain HTTP only, so no CA store to load: that takes up to 0.2 s on a busy machine.
    return IMPLEMENTATIONS[client](timeout_s=SAFETY_S, max_body_bytes=max_body_bytes, insecure=True)


@pytest.mark.parametrize("client", CLIENTS)
def test_transport_builds_the_client_it_is_asked_for(client: HttpClient) -> None:
    built = Transport(timeout_s=1, insecure=True, client=client)
    assert type(built) is IMPLEMENTATIONS[client]
    assert built.timeout_s == 1
    assert type(Transport(timeout_s=1, insecure=True)) is AiohttpTransport
    other: HttpClient = "aiohttp" if client == "lean" else "lean"
    with pytest.raises(ValueError, match="client"):
        IMPLEMENTATIONS[client](timeout_s=1, insecure=True, client=other)


def ok(body: bytes = b"", status: int = 200) -> Outcome:
    return (status, body, False)


def error(kind: str) -> Outcome:
    return ("error", kind)


async def send(transport: Transport, url: str, **headers: str) -> Outcome:
    try:
        resp = await transport.request("POST", url, headers={**JSON, **headers}, data=b"{}")
    except DeliveryError as exc:
        return error(exc.kind)
    return (resp.status, resp.body, resp.truncated)


# Scripts --------------------------------------------------------------------------------------


def answer(*pieces: bytes, then_close: bool = False) -> Callable[[RawConnection], Awaitable[None]]:
    """Answer every request on the connection with `pieces`; close after the first if asked."""

    async def script(conn: RawConnection) -> None:
        while await conn.request() is not None:
            await conn.send(*pieces)
            if then_close:
                conn.close()
                return

    return script


# 128 fields of up to 8190 bytes each: as large as aiohttp accepts a head.
BIG_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    + b"".join(b"X-F%03d: %s\r\n" % (i, b"v" * 8180) for i in range(127))
    + b"Content-Length: 2\r\n\r\nok"
)


async def http10_close_delimited(conn: RawConnection) -> None:
    # What Python's http.server sends by default: HTTP/1.0, no length, the close ends the body.
    await conn.request()
    await conn.send(b"HTTP/1.0 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11\r\n\r\n", b"hel", b"lo")
    conn.close()


def close_delimited_11(status: bytes) -> Callable[[RawConnection], Awaitable[None]]:
    async def script(conn: RawConnection) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 " + status + b"\r\nConnection: close\r\n\r\n", b"the body")
        conn.close()

    return script


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'5;name=value;flag\r\nhello\r\n7;q="a;b"\r\n, world\r\n'
    b"0;last\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n"
)


async def chunked_dripped(conn: RawConnection) -> None:
    while await conn.request() is not None:
        head, _, body = CHUNKED.partition(b"\r\n\r\n")
        await conn.send(head[:20], head[20:] + b"\r\n\r\n")
        await conn.drip(body)  # every chunk size, extension, CRLF and trailer byte on its own


async def short_body_then_close(conn: RawConnection) -> None:
    await conn.request()
    await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", b"hello")
    conn.close()


async def big_body(conn: RawConnection) -> None:
    await conn.request()
    await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    await conn.send(*(b"x" * 10000 for _ in range(10)))
    await conn.wait_closed()


def endless(head: bytes, piece: bytes) -> Callable[[RawConnection], Awaitable[None]]:
    """Send `head`, then `piece` again and again until the client gives up (or 8 MiB)."""

    async def script(conn: RawConnection) -> None:
        await conn.request()
        await conn.send(head)
        watcher = asyncio.create_task(conn.wait_closed())
        try:
            while not conn.peer_closed.is_set() and conn.sent < 8 << 20:
                await conn.send(piece)
        finally:
            watcher.cancel()

    return script


endless_body = endless(b"HTTP/1.0 200 OK\r\n\r\n", b"y" * 4096)
endless_header = endless(b"HTTP/1.1 200 OK\r\nX-Endless: ", b"a" * 4096)


async def reset_before_answer(conn: RawConnection) -> None:
    await conn.request()
    conn.reset()


async def stale_keep_alive(conn: RawConnection) -> None:
    """Answer once with keep-alive, then close the idle connection; later connections are
    answered normally."""
    if conn.index == 0:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
        conn.close()
        return
    await answer(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")(conn)


async def closed_as_request_arrives(conn: RawConnection) -> None:
    """The race a keep-alive timeout loses: the second request arrives on a connection the
    server has decided to close, and is dropped unanswered."""
    if conn.index == 0:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
        await conn.request()
        conn.close()
        return
    await answer(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")(conn)


# Cases ----------------------------------------------------------------------------------------

Check = Callable[[RawServer], Awaitable[None]]


async def client_dropped_it(server: RawServer) -> None:
    """The client closed the connection (it did not read on, nor pool it)."""
    conn = server.connections[0]
    async with asyncio.timeout(SAFETY_S):
        await conn.peer_closed.wait()
    assert conn.sent < 1 << 20, f"the client read on: {conn.sent} bytes sent"


async def server_closed_first(server: RawServer) -> None:
    """The first connection's script is over: the server has closed it. Whether the client has
    seen the close by its next request or finds out by sending it, the verdict is the same."""
    async with asyncio.timeout(SAFETY_S):
        await (await server.connection(0)).finished.wait()


@dataclass(frozen=True)
class Case:
    name: str
    script: Callable[[RawConnection], Awaitable[None]]
    expected: list[Outcome]  # one per request, sent one after the other
    max_body_bytes: int = 65536
    check: Check | None = None  # run once the requests are answered, the client still open
    between: Check | None = None  # run after each request
    headers: dict[str, str] = field(default_factory=dict)


CASES = [
    Case("http/1.0 close-delimited 200", http10_close_delimited, [ok(b"hello")]),
    Case("1.1 connection: close, no length, 200", close_delimited_11(b"200 OK"),
         [ok(b"the body")]),
    Case("1.1 connection: close, no length, 500", close_delimited_11(b"500 Oops"),
         [ok(b"the body", 500)]),
    Case("content-length, keep-alive",
         answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", b"hello"),
         [ok(b"hello"), ok(b"hello")]),
    Case("chunked: extensions and trailers", answer(CHUNKED),
         [ok(b"hello, world"), ok(b"hello, world")]),
    Case("chunked, split byte by byte", chunked_dripped,
         [ok(b"hello, world"), ok(b"hello, world")]),
    Case("headers in odd case",
         answer(b"HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh: 5\r\ncOnNeCtIoN: kEeP-aLiVe\r\n\r\nhello"),
         [ok(b"hello"), ok(b"hello")]),
    Case("connection: close after a length-delimited body",
         answer(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye",
                then_close=True),
         [ok(b"bye"), ok(b"bye")]),
    Case("100 continue, then 200",
         answer(b"HTTP/1.1 100 Continue\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal"),
         [ok(b"real"), ok(b"real")]),
    Case("103 early hints, then 200",
         answer(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal"),
         [ok(b"real"), ok(b"real")]),
    Case("204 with no body", answer(b"HTTP/1.1 204 No Content\r\n\r\n"),
         [ok(status=204), ok(status=204)]),
    Case("304 with no body", answer(b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"),
         [ok(status=304), ok(status=304)]),
    Case("body shorter than its content-length, then close", short_body_then_close,
         [error("reset")]),
    Case("body past max_body_bytes", big_body, [(200, b"x" * 1024, True)], max_body_bytes=1024,
         check=client_dropped_it),
    Case("close-delimited body past max_body_bytes", endless_body, [(200, b"y" * 1024, True)],
         max_body_bytes=1024, check=client_dropped_it),
    Case("endless header", endless_header, [error("protocol")], check=client_dropped_it),
    Case("a head at aiohttp's limits", answer(BIG_HEAD), [ok(b"ok"), ok(b"ok")]),
    Case("a header field past 8190 bytes",
         answer(b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * 8190 + b"\r\nContent-Length: 0\r\n\r\n"),
         [error("protocol")]),
    Case("129 header fields",
         answer(b"HTTP/1.1 200 OK\r\n" + b"X-A: a\r\n" * 128 + b"Content-Length: 0\r\n\r\n"),
         [error("protocol")]),
    Case("a reason phrase past 8190 bytes",
         answer(b"HTTP/1.1 200 " + b"r" * 8191 + b"\r\nContent-Length: 0\r\n\r\n"),
         [error("protocol")]),
    Case("NUL in a header value",
         answer(b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n"),
         [error("protocol")]),
    Case("bare LF line ends", answer(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"),
         [ok(b"ok"), ok(b"ok")]),
    Case("chunked body cut by the close",
         answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", then_close=True),
         [error("reset")]),
    Case("reset before any answer", reset_before_answer, [error("reset")]),
    Case("bytes after the answer, in the same segment",
         answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA-GARBAGE"),
         [error("protocol"), error("protocol")]),
    Case("stale keep-alive: closed while idle", stale_keep_alive, [ok(b"first"), ok(b"second")],
         between=server_closed_first),
    Case("stale keep-alive: closed as the request arrives", closed_as_request_arrives,
         [ok(b"first"), ok(b"second")]),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_both_clients_give_the_same_verdict(run: Run, case: Case) -> None:
    async def verdict(client: HttpClient) -> list[Outcome]:
        outcomes = []
        async with (
            RawServer(case.script) as server,
            transport(client, max_body_bytes=case.max_body_bytes) as t,
        ):
            for _ in case.expected:
                outcomes.append(await send(t, server.url, **case.headers))
                if case.between is not None:
                    await case.between(server)
            if case.check is not None:
                await case.check(server)
        return outcomes

    lean, aio = run(verdict("lean")), run(verdict("aiohttp"))
    assert lean == aio
    assert lean == case.expected


@pytest.mark.parametrize(
    ("raw", "header"),
    [(b"\xc2\xb2", "²"), (b"\xb2", "\udcb2")],
    ids=["superscript two in UTF-8", "raw byte 0xB2"],
)
def test_non_ascii_retry_after(run: Run, raw: bytes, header: str) -> None:
    script = answer(b"HTTP/1.1 503 Busy\r\nRetry-After: " + raw + b"\r\nContent-Length: 0\r\n\r\n")

    async def seen(client: HttpClient) -> tuple[int, str | None]:
        async with RawServer(script) as server, transport(client) as t:
            resp = await t.request("POST", server.url, headers=JSON, data=b"{}")
            return resp.status, resp.headers.get("Retry-After")

    assert run(seen("lean")) == run(seen("aiohttp")) == (503, header)


@pytest.mark.parametrize("client", CLIENTS)
def test_refused_port(run: Run, client: HttpClient) -> None:
    async def go() -> None:
        async with transport(client) as t:
            assert await send(t, f"http://127.0.0.1:{closed_port()}/") == error("refused")

    run(go())


@pytest.mark.parametrize("client", CLIENTS)
def test_control_characters_in_headers_are_refused_before_sending(
    run: Run, client: HttpClient
) -> None:
    async def go() -> RawServer:
        async with (
            RawServer(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) as server,
            transport(client) as t,
        ):
            for headers in (
                {"Authorization": "Bearer abc\r\nX-Injected: 1"},
                {"X-Token": "abc\nX-Injected: 1"},
                {"X-Token": "abc\rX-Injected: 1"},
                {"X-Token": "abc\x00"},
                {"X-Injected: 1\r\nX-Name": "v"},
            ):
                assert await send(t, server.url, **headers) == error("invalid-header")
            assert await send(t, server.url, **{"X-Fine": "a\tb é"}) == ok()
            await server.connection(0)
        return server

    server = run(go())
    assert len(server.connections) == 1
    assert len(server.connections[0].requests) == 1  # only the clean one
    assert b"Injected" not in server.received


async def _token_endpoint(conn: RawConnection) -> None:
    while (request := await conn.request()) is not None:
        if request.startswith(b"POST /token "):
            token = b'{"access_token": "abc\\r\\nX-Injected: 1", "token_type": "bearer"}'
            await conn.send(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(token), token)
            )
        else:
            await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("source", ["api-key", "oauth2"])
def test_injected_token_is_an_attempt_failure(run: Run, client: HttpClient, source: str) -> None:
    note = notification(PayloadFactory(1).by_client(status=3))

    async def go() -> tuple[AttemptResult, RawServer]:
        async with (
            RawServer(_token_endpoint) as server,
            transport(client) as t,
        ):
            auth: Auth = (
                ApiKeyAuth("X-Api-Key:abc\r\nX-Injected: 1")
                if source == "api-key"
                else OAuth2ClientCredentials(server.url + "token", "id", "secret")
            )
            return await attempt(t, auth, server.url + "notify", note, 1), server

    result, server = run(go())
    assert (result.status, result.error) == (None, "invalid-header")
    targets = [r.split(b" ")[1] for c in server.connections for r in c.requests]
    assert targets == ([b"/token"] if source == "oauth2" else [])


@pytest.mark.parametrize("client", CLIENTS)
def test_userinfo_is_never_sent(run: Run, client: HttpClient) -> None:
    async def go() -> RawServer:
        async with (
            RawServer(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) as server,
            transport(client) as t,
        ):
            url = server.url.replace("http://", "http://someone:s3cret@")
            assert await send(t, url + "path?q=1") == ok()
        return server

    server = run(go())
    request = server.received
    assert request.startswith(b"POST /path?q=1 HTTP/1.1\r\n")
    assert b"Host: 127.0.0.1:%d\r\n" % server.port in request
    assert b"someone" not in request
    assert b"s3cret" not in request
    assert b"authorization" not in request.lower()


@pytest.mark.parametrize("client", CLIENTS)
def test_each_request_gets_its_own_answer_after_interim_ones(run: Run, client: HttpClient) -> None:
    async def numbered(conn: RawConnection) -> None:
        n = 0
        while await conn.request() is not None:
            body = b"answer %d" % n
            await conn.send(
                b"HTTP/1.1 100 Continue\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
            )
            n += 1

    async def go() -> tuple[list[Outcome], RawServer]:
        async with RawServer(numbered) as server, transport(client) as t:
            return [await send(t, server.url) for _ in range(20)], server

    answers, server = run(go())
    assert answers == [ok(b"answer %d" % n) for n in range(20)]
    assert len(server.connections) == 1


def test_unsolicited_bytes_retire_an_idle_connection(run: Run) -> None:
    """Bytes a server sends between exchanges belong to no request: the lean client must not
    credit them to the next one."""

    async def script(conn: RawConnection) -> None:
        if conn.index == 0:
            await conn.request()
            await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
            await conn.send(b"HTTP/1.1 500 Stale\r\nContent-Length: 5\r\n\r\nstale")
            await conn.wait_closed()
        else:
            await answer(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")(conn)

    async def go() -> None:
        async with RawServer(script) as server, transport("lean") as t:
            assert await send(t, server.url) == ok(b"first")
            async with asyncio.timeout(SAFETY_S):
                await (await server.connection(0)).peer_closed.wait()
            assert await send(t, server.url) == ok(b"second")

    run(go())


@pytest.mark.parametrize("client", CLIENTS)
def test_a_resend_on_a_closed_connection_is_counted(run: Run, client: HttpClient) -> None:
    """The server read the second request, then closed without answering: it goes out again
    on a fresh connection, and the attempt says it made two requests, as the server saw."""
    note = notification(PayloadFactory(2).by_client(status=3))
    kinds: list[str] = []

    async def go() -> tuple[list[AttemptResult], RawServer]:
        async with RawServer(closed_as_request_arrives) as server, transport(client) as t:
            results = [
                await attempt(t, NoAuth(), server.url, note, n, on_request=kinds.append)
                for n in (1, 2)
            ]
            return results, server

    results, server = run(go())
    assert [(r.status, r.requests) for r in results] == [(200, 1), (200, 2)]
    assert kinds == ["first", "first", "stale-connection"]
    assert sum(len(c.requests) for c in server.connections) == 3
