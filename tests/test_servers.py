"""The sandbox receiver and the platform mock against hostile clients: slowloris, floods past the
connection cap, oversized heads and bodies, idle keep-alive, deep JSON; and the receiver's
duplicate memory staying bounded.

Deadlines are configured small, but nothing here asserts on timing: each test waits for the
event (the server closing the connection, a counter moving) with a generous safety timeout.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest

from dispatcher.payloads import PayloadFactory
from dispatcher.platform.api import PlatformConfig, start_platform
from dispatcher.receiver import quietlog
from dispatcher.receiver.dedup import CountingBloom, NotificationMemory, digest
from dispatcher.tokens import TokenStore

from .conftest import StartReceiver
from .helpers import settings

SAFETY_S = 20.0  # never reached when things work; only turns a hang into a failure
Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
PARTIAL_HEAD = b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Whatever a test throws at the servers, the log gets single lines, never a traceback."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()
        assert "Traceback" not in record.getMessage()
        assert "\n" not in record.getMessage(), record.getMessage()


async def connect(url: str, first: bytes = b"") -> Conn:
    """A raw connection; `first` is written as soon as it is open (no await in between)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    if first:
        writer.write(first)
    return reader, writer


async def until_closed(conn: Conn) -> bytes:
    """Everything the server sends until it closes the connection."""
    return (await until_closed_or_reset(conn))[0]


async def until_closed_or_reset(conn: Conn) -> tuple[bytes, bool]:
    """What the server sent until the connection ended, and whether it ended in a reset."""
    reader, writer = conn
    data = b""
    reset = False
    try:
        async with asyncio.timeout(SAFETY_S):
            while chunk := await reader.read(65536):
                data += chunk
    except ConnectionResetError:
        reset = True
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return data, reset


async def hang_up(conn: Conn) -> None:
    conn[1].close()
    with contextlib.suppress(ConnectionError):
        await conn[1].wait_closed()


async def until(predicate: Callable[[], bool]) -> None:
    """Wait for a condition that the server makes true (no fixed sleeps, no timing asserts)."""
    for _ in range(int(SAFETY_S / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


async def get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


def status_line(data: bytes) -> bytes:
    return data.split(b"\r\n", 1)[0]


# Slow and idle connections ---------------------------------------------------------------------


async def test_slowloris_is_closed_after_the_head_timeout_while_others_are_served(
    receiver: StartReceiver,
) -> None:
    # Short, yet long enough for a normal request's head to arrive on a loaded machine.
    r = await receiver(read_timeout_s=0.5)
    # Each connection's first bytes leave the moment it is open: were they written later, a
    # busy machine could make them late for the deadline, and the server would rightly take
    # the connection for a silent one.
    lorises = [await connect(r.url, PARTIAL_HEAD) for _ in range(20)]
    silent = await connect(r.url)  # connects and sends nothing at all
    dribbler = await connect(r.url, b"GET /_stats HTTP/1.1\r\nHost: x\r\nX-Slow: ")

    async def dribble() -> None:
        # A byte at a time: each byte must not buy more time.
        with contextlib.suppress(ConnectionError):
            while not dribbler[1].is_closing() and not dribbler[0].at_eof():
                dribbler[1].write(b"a")
                await asyncio.sleep(0.02)

    dribbling = asyncio.create_task(dribble())
    await until(lambda: r.gate.accepted >= 22)
    status, stats = await get(r.url + "/_stats")
    assert status == 200
    assert stats["connections"]["read_timeout_s"] == 0.5
    for conn in lorises:
        assert status_line(await until_closed(conn)) == b"HTTP/1.1 408 Request Timeout"
    assert await until_closed(silent) == b""
    # The dribbler is answered 408 and closed too, but its next byte then meets a closed
    # socket: the reset that provokes may overtake the 408 before this side reads it (on a
    # busy machine it does). Either way it was closed at the deadline, never kept open.
    data, reset = await until_closed_or_reset(dribbler)
    assert status_line(data) == b"HTTP/1.1 408 Request Timeout" or (data, reset) == (b"", True)
    await dribbling
    assert r.gate.head_timeouts >= 22
    await until(lambda: r.gate.open == 0 or r.gate.open == r.gate.busy)


async def test_a_slow_body_gets_408_and_the_connection_closes(receiver: StartReceiver) -> None:
    r = await receiver(read_timeout_s=0.3)
    conn = await connect(r.url)
    conn[1].write(PARTIAL_HEAD + b"Content-Length: 100\r\n\r\n{")
    data = await until_closed(conn)
    assert status_line(data) == b"HTTP/1.1 408 Request Timeout"
    assert b"request body not received within 0.3 s" in data
    assert r.gate.bodies_refused == 1


async def test_an_idle_keep_alive_connection_is_closed(receiver: StartReceiver) -> None:
    r = await receiver(idle_timeout_s=0.5)
    conn = await connect(r.url)
    conn[1].write(b"GET /_stats HTTP/1.1\r\nHost: x\r\n\r\n")  # HTTP/1.1: keep-alive
    data = await until_closed(conn)  # the answer, then the server's close once idle
    assert status_line(data) == b"HTTP/1.1 200 OK"
    assert data.count(b"HTTP/1.1") == 1
    assert r.gate.head_timeouts == 0  # closed by the idle timer, not the head deadline


# The connection cap -----------------------------------------------------------------------------


async def test_at_the_cap_the_longest_waiting_connection_makes_room(
    receiver: StartReceiver,
) -> None:
    r = await receiver(max_connections=3, read_timeout_s=30)
    lorises = []
    for _ in range(3):
        lorises.append(await connect(r.url))
        lorises[-1][1].write(PARTIAL_HEAD)
    await until(lambda: r.gate.open == 3)
    status, _ = await get(r.url + "/_stats")  # a fourth connection, with a real request
    assert status == 200
    assert r.gate.evicted == 1
    await until_closed(lorises[0])  # the oldest gave way
    for conn in lorises[1:]:
        await hang_up(conn)


async def test_when_every_connection_is_busy_new_ones_get_503_until_one_ends(
    receiver: StartReceiver,
) -> None:
    r = await receiver(max_connections=3, read_timeout_s=30)
    busy = []
    for _ in range(3):  # heads complete, bodies never: each keeps a request in progress
        busy.append(await connect(r.url))
        busy[-1][1].write(PARTIAL_HEAD + b"Content-Length: 100\r\n\r\n{")
    await until(lambda: r.gate.busy == 3)
    extra = await connect(r.url)
    data = await until_closed(extra)  # answered and closed at once, not queued
    assert status_line(data) == b"HTTP/1.1 503 Service Unavailable"
    assert r.gate.refused == 1
    for conn in busy:
        await hang_up(conn)
    await until(lambda: r.gate.open == 0)
    status, stats = await get(r.url + "/_stats")
    assert status == 200
    assert stats["connections"]["refused"] == 1
    assert stats["connections"]["max"] == 3


# Sizes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        b"GET /_stats HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 10_000 + b"\r\n\r\n",
        b"GET /_stats HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 40 + b"\r\n",
        b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["long-header-line", "too-many-headers", "long-request-line"],
)
async def test_an_oversized_head_is_refused_and_the_connection_closed(
    receiver: StartReceiver, caplog: pytest.LogCaptureFixture, head: bytes
) -> None:
    r = await receiver()
    conn = await connect(r.url)
    conn[1].write(head)
    data = await until_closed(conn)
    assert status_line(data).split(b" ")[1] in (b"400", b"431")
    # One line at INFO: a client's malformed request is not the server's error.
    lines = [rec for rec in caplog.records if "Error handling request" in rec.getMessage()]
    assert [rec.levelno for rec in lines] == [logging.INFO]


async def test_an_oversized_body_gets_413(receiver: StartReceiver) -> None:
    r = await receiver()
    async with aiohttp.ClientSession() as http:
        body = b'{"id": "' + b"a" * (1024 * 1024) + b'"}'
        headers = {"Content-Type": "application/json"}
        async with http.post(r.url + "/webhook", data=body, headers=headers) as resp:
            assert resp.status == 413
            assert "larger than 1048576 bytes" in (await resp.json())["error"]
    # Chunked: no length up front, refused as it goes past the limit.
    conn = await connect(r.url)
    chunk = b"a" * (600 * 1024)
    conn[1].write(PARTIAL_HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    for _ in range(2):
        conn[1].write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    conn[1].write(b"0\r\n\r\n")
    data = await until_closed(conn)
    assert status_line(data) == b"HTTP/1.1 413 Request Entity Too Large"
    assert r.gate.bodies_refused == 2


# Hostile JSON -------------------------------------------------------------------------------------


def deep(n: int = 100_000) -> bytes:
    return b"[" * n + b"]" * n


async def test_deep_json_gets_400_not_a_traceback(receiver: StartReceiver) -> None:
    r = await receiver()
    async with aiohttp.ClientSession() as http:
        headers = {"Content-Type": "application/json"}
        for body in (deep(), b'{"id": ' + deep() + b"}"):
            async with http.post(r.url + "/webhook", data=body, headers=headers) as resp:
                assert resp.status == 400
                assert "nested too deeply" in (await resp.json())["error"]
    assert r.state.invalid_payload == 2


async def test_a_body_cannot_forge_log_lines(
    receiver: StartReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    r = await receiver()
    forged = json.dumps({"id": "x\nPOST /webhook 200 accepted", "status": 3})
    async with aiohttp.ClientSession() as http:
        headers = {"Content-Type": "application/json"}
        async with http.post(r.url + "/webhook", data=forged, headers=headers) as resp:
            assert resp.status == 400
    # no_tracebacks also checks that no record spans two lines


@pytest.fixture
async def platform() -> AsyncIterator[Callable[..., Any]]:
    closers = []

    async def start(**config: Any) -> Any:
        running = await start_platform(
            settings("http://127.0.0.1:9/webhook"), PlatformConfig.model_validate(config)
        )
        closers.append(running)
        return running

    yield start
    for running in closers:
        await running.close(grace_s=0.1)


async def test_platform_refuses_deep_json_with_its_error_shapes(platform: Any) -> None:
    running = await platform()
    token_url = running.url + "/oauth2/token"
    b64 = base64.urlsafe_b64encode(deep(3000)).rstrip(b"=").decode()
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    async with aiohttp.ClientSession() as http:
        # A JWT header nested 3,000 deep: under the assertion's length limit, over the parser's.
        form = {"grant_type": grant, "assertion": f"{b64}.e30.c2ln"}
        async with http.post(token_url, data=form) as resp:
            body = await resp.json()
            assert resp.status == 400
            assert body["error"] == "invalid_grant"
            assert "nested too deeply" in body["error_description"]
        form["assertion"] = "a" * 20_000 + ".b.c"
        async with http.post(token_url, data=form) as resp:
            assert resp.status == 400
            assert "longer than" in (await resp.json())["error_description"]
        headers = {"Content-Type": "application/json"}
        url = running.url + "/_platform/outage"
        async with http.post(url, data=deep(), headers=headers) as resp:
            body = await resp.json()
            assert resp.status == 400
            assert "nested too deeply" in body["error"]["message"]


async def test_platform_closes_slowloris_and_keeps_serving(platform: Any) -> None:
    running = await platform(read_timeout_s=0.5, max_connections=4)
    lorises = []
    for _ in range(6):  # past the cap: the oldest waiting make room
        lorises.append(await connect(running.url))
        lorises[-1][1].write(PARTIAL_HEAD)
    status, report = await get(running.url + "/_platform/processes")
    assert status == 200
    assert report["connections"]["max"] == 4
    assert report["assertion_signatures"] == "not verified"
    for conn in lorises:
        await until_closed(conn)
    gate = running.platform.server.gate
    assert gate.head_timeouts + gate.evicted >= 6


# Bounded memory -----------------------------------------------------------------------------------


async def post_json(http: aiohttp.ClientSession, url: str, body: bytes) -> int:
    headers = {"Content-Type": "application/json"}
    async with http.post(url, data=body, headers=headers) as resp:
        return resp.status


async def test_duplicate_memory_goes_approximate_at_the_configured_count(
    receiver: StartReceiver,
) -> None:
    r = await receiver(dedup_exact_keys=3)
    f = PayloadFactory(5)
    bodies = [json.dumps(f.by_client(status=3)).encode() for _ in range(5)]
    async with aiohttp.ClientSession() as http:
        for body in bodies:
            assert await post_json(http, r.url + "/webhook", body) == 200
        _, stats = await get(r.url + "/_stats")
        assert stats["dedup"]["mode"] == "approximate"
        assert stats["dedup"]["exact_keys"] == 3
        assert stats["dedup"]["approximate"]["keys"] == 2
        assert stats["dedup"]["approximate"]["false_positive_bound"] == 0.001
        assert stats["dedup"]["approximate"]["bytes"] > 0
        # Duplicates are still counted, from the exact part and from the approximate one.
        for body in (bodies[0], bodies[4], bodies[4]):
            assert await post_json(http, r.url + "/webhook", body) == 200
        _, stats = await get(r.url + "/_stats")
    assert (stats["unique"], stats["duplicates"], stats["accepted"]) == (5, 3, 8)


async def test_fail_first_counts_deliveries_in_the_approximate_memory(
    receiver: StartReceiver,
) -> None:
    r = await receiver(dedup_exact_keys=0, fail_first=2)
    body = json.dumps(PayloadFactory(1).by_client(status=3)).encode()
    async with aiohttp.ClientSession() as http:
        codes = [await post_json(http, r.url + "/webhook", body) for _ in range(4)]
    assert codes == [500, 500, 200, 200]
    assert r.state.as_json()["dedup"]["mode"] == "approximate"
    assert (r.state.unique, r.state.duplicates) == (1, 1)


def test_counting_bloom_stays_within_its_false_positive_rate() -> None:
    bloom = CountingBloom(capacity=2000, fp_rate=0.01)

    def at(name: str) -> list[int]:
        return bloom.positions(digest(name, "3"))

    for i in range(2000):
        bloom.put(at(f"in-{i}"), 1)
    assert all(bloom.get(at(f"in-{i}")) == 1 for i in range(2000))  # no false negative
    false = sum(bloom.get(at(f"out-{i}")) > 0 for i in range(20_000))
    assert false <= 2 * 0.01 * 20_000  # expected 200; the digests are fixed, so is the count


def test_memory_rotates_generations_and_forgets_only_the_oldest() -> None:
    memory = NotificationMemory(exact_keys=0, generation_keys=100)

    def deliver(i: int) -> bool:
        h = digest(f"p{i}", "3")
        memory.delivery(h)
        return memory.answered(h)

    assert not any(deliver(i) for i in range(250))
    stats = memory.as_json()
    assert stats["approximate"]["rotations"] == 2
    assert stats["approximate"]["generations"] == 2  # memory stays at two generations
    assert deliver(249)  # recent: remembered
    assert deliver(150)  # the older generation still answers
    assert not deliver(5)  # more than two generations ago: forgotten


def test_token_store_stays_bounded() -> None:
    store = TokenStore(max_live=8)
    tokens = [store.issue(60) for _ in range(100)]
    assert len(store) <= 8
    assert store.problem(f"Bearer {tokens[-1]}") is None
    assert store.problem(f"Bearer {tokens[0]}") == "unknown token"


def test_log_lines_are_single_budgeted_and_say_where_a_bug_was(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [100.0]
    monkeypatch.setattr(quietlog.time, "monotonic", lambda: clock[0])
    log = quietlog.one_line_logger("webhook_sim.test", per_second=5)
    for _ in range(12):
        try:
            {}["missing"]  # the bug being logged
        except KeyError:
            log.exception("Error handling request from %s", "127.0.0.1")
    clock[0] += 1.0  # a second later: the budget is back, and says what it held back
    log.info("next")
    lines = [r.getMessage() for r in caplog.records if r.name == "webhook_sim.test"]
    assert len(lines) == 7
    assert lines[0].startswith("Error handling request from 127.0.0.1: KeyError: 'missing' (at ")
    assert "test_servers.py" in lines[0]
    assert lines[5:] == ["(7 similar lines suppressed)", "next"]
