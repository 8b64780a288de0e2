"""--source-address: connections come from the addresses given, in turn, with both HTTP clients;
an address this machine cannot send from is one line before anything is sent; and
`check --denied-source` proves a receiver refuses an address it does not allow.

Loopback only: 127.0.0.0/8 is all loopback on Linux, so 127.0.0.2 and 127.0.0.3 stand for a
platform's addresses with no setup."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiohttp import web

import webhook_sim
from dispatcher.binding import SourceAddresses, bind_error
from dispatcher.cli import main
from dispatcher.transport import Transport

from .conftest import closed_port

A, B, DENIED = "127.0.0.2", "127.0.0.3", "127.0.0.3"
UNBINDABLE = "192.0.2.1"  # TEST-NET-1 (RFC 5737): no machine has it
CLIENTS = ["aiohttp", "lean"]


class Seen:
    """What a test receiver saw: each request's source address, and each connection's (in the
    order their first request came)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.connections: list[str] = []
        self._peers: set[tuple[str, int]] = set()

    def note(self, request: web.Request) -> str:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        assert peer is not None
        host, port = peer[0], peer[1]
        self.requests.append(host)
        if (host, port) not in self._peers:
            self._peers.add((host, port))
            self.connections.append(host)
        return str(host)


@contextlib.asynccontextmanager
async def recording_receiver(
    *, host: str = "127.0.0.1", close: bool = False, refuse: str | None = None
) -> AsyncIterator[tuple[str, Seen]]:
    """An aiohttp receiver in the test's loop: 200 to every request (with `close`, closing each
    connection after its answer), 403 to any from `refuse`. Yields its URL and what it saw."""
    seen = Seen()

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        source = seen.note(request)
        response = web.Response(status=403 if source == refuse else 200, text="ok")
        if close:
            response.force_close()
        return response

    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    port = runner.addresses[0][1]
    try:
        yield f"http://{'[::1]' if ':' in host else host}:{port}/hook", seen
    finally:
        await runner.cleanup()


# run: the addresses in turn ---------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
async def test_each_new_connection_takes_the_next_address(client: str) -> None:
    # One at a time, each answer closing its connection: every request opens a new one, in
    # order, so the order the receiver sees them in is the order they were bound in.
    async with recording_receiver(close=True) as (url, seen):
        ran = await webhook_sim.run(
            url, count=6, concurrency=1, seed=1, http_client=client, source_address=[A, B]
        )
    assert ran.passed, ran
    assert seen.connections == [A, B, A, B, A, B]
    assert seen.requests == seen.connections


@pytest.mark.parametrize("client", CLIENTS)
async def test_concurrent_connections_share_the_addresses(client: str) -> None:
    async with recording_receiver() as (url, seen):
        ran = await webhook_sim.run(
            url, count=8, concurrency=2, seed=2, http_client=client, source_address=[A, B]
        )
    assert ran.passed, ran
    assert set(seen.requests) <= {A, B}
    # However the two connections opened race, they were bound one after the other.
    assert len(seen.connections) >= 2
    assert abs(seen.connections.count(A) - seen.connections.count(B)) <= 1


async def test_without_the_option_the_os_chooses() -> None:
    async with recording_receiver() as (url, seen):
        sent = await webhook_sim.send(url, seed=3)
    assert sent.delivered
    assert seen.requests == ["127.0.0.1"]


@pytest.mark.parametrize("client", CLIENTS)
async def test_an_address_of_the_other_family_is_left_to_its_own(client: str) -> None:
    if bind_error("::1") is not None:
        pytest.skip(f"no IPv6 loopback here ({bind_error('::1')})")
    async with recording_receiver() as (url, seen):
        ran = await webhook_sim.run(
            url, count=4, concurrency=1, seed=4, http_client=client, source_address=["::1", A]
        )
    assert ran.passed, ran
    assert set(seen.requests) == {A}


@pytest.mark.parametrize("client", CLIENTS)
async def test_ipv6(client: str) -> None:
    if bind_error("::1") is not None:
        pytest.skip(f"no IPv6 loopback here ({bind_error('::1')})")
    async with recording_receiver(host="::1", close=True) as (url, seen):
        ran = await webhook_sim.run(
            url, count=2, concurrency=1, seed=5, http_client=client, source_address=["::1"]
        )
    assert ran.passed, ran
    assert seen.connections == ["::1", "::1"]


async def test_the_socket_factory_refuses_a_family_it_has_no_address_of() -> None:
    sources = SourceAddresses([A])
    info = (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("::1", 80, 0, 0))
    with pytest.raises(OSError, match=r"no --source-address of the receiver's family: ::1 is IPv6"):
        sources.socket(info)


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_hostname_connects_from_the_address_of_its_family(client: str) -> None:
    # "localhost" may resolve to ::1 first: only 127.0.0.1 listens, and only A is IPv4.
    async with recording_receiver() as (url, seen):
        url = url.replace("127.0.0.1", "localhost")
        async with Transport(timeout_s=30, client=client, source_addresses=[A]) as transport:
            resp = await transport.request("POST", url, headers={}, data=b"{}")
    assert resp.status == 200
    assert seen.requests == [A]


# send, through the command line -------------------------------------------------------------------


@contextlib.contextmanager
def threaded_receiver() -> Iterator[tuple[str, list[str]]]:
    """A receiver in a thread, for the command line (which runs its own event loop): 200 to
    every POST; yields its URL and the source address of each request."""
    sources: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            sources.append(self.client_address[0])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", sources
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_send_from_an_address(capsys: pytest.CaptureFixture[str]) -> None:
    with threaded_receiver() as (url, sources):
        code = main(["send", "--url", url, "--source-address", A, "--seed", "1"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert sources == [A]


COMMANDS = {
    "send": [],
    "run": ["--count", "1", "--workers", "1"],
    "load": ["--rate", "1", "--duration", "1s", "--workers", "1"],
    "check": ["--only", "idempotent-duplicates"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_address_this_machine_lacks_is_one_line_and_nothing_is_sent(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with threaded_receiver() as (url, sources):
        code = main(
            [command, "--url", url, "--source-address", A, "--source-address", UNBINDABLE,
             *COMMANDS[command]]
        )  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith(f"webhook-sim: error: --source-address = '{UNBINDABLE}': cannot bind it")
    assert "(Cannot assign requested address)" in err
    assert sources == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--source-address", "nope"],
            "--source-address = 'nope': must be an IPv4 or IPv6 address",
        ),
        (["--source-address", "::1"], "--source-address: none is IPv4 like the --url's host"),
        (["--denied-source", "10.0.0.999"], "--denied-source = '10.0.0.999': must be an IPv4"),
        (["--denied-source", UNBINDABLE], f"--denied-source = '{UNBINDABLE}': cannot bind it"),
        (["--denied-source", "::1"], "--denied-source = '::1': not of the same family"),
    ],
)
def test_bad_addresses_are_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    code = main(["check", "--url", f"http://127.0.0.1:{closed_port()}/", *args])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1, err
    assert expected in err


def test_the_address_set_in_a_config_file(tmp_path: Path) -> None:
    from dispatcher.errors import ConfigError
    from dispatcher.settings import build_settings

    config = tmp_path / "c.toml"
    config.write_text(f'url = "http://127.0.0.1:9/"\nsource_addresses = ["{A}", "{UNBINDABLE}"]\n')
    with pytest.raises(ConfigError, match=rf"c.toml: source_addresses = '{UNBINDABLE}': cannot"):
        build_settings(config=config, env={})


# check --denied-source ----------------------------------------------------------------------------


async def test_denied_source_passes_when_the_receiver_refuses_that_address() -> None:
    async with recording_receiver(refuse=DENIED) as (url, seen):
        checked = await webhook_sim.check(url, denied_source=DENIED, only=["denied-source"])
    assert checked.passed, checked.summary()
    [result] = checked.results
    assert (result.name, result.status) == ("denied-source", "passed")
    assert "from the default address) → got 200" in result.evidence[0]
    assert f"from {DENIED}) → got 403" in result.evidence[1]
    assert seen.requests == ["127.0.0.1", DENIED]


async def test_denied_source_fails_when_the_receiver_accepts_everyone() -> None:
    async with recording_receiver() as (url, seen):
        checked = await webhook_sim.check(
            url, denied_source=DENIED, source_address=[A], only=["denied-source"]
        )
    assert not checked.passed
    [result] = checked.results
    assert result.status == "failed"
    assert result.message == (
        f"the receiver accepted a notification from {DENIED} (it answered 200): it does not "
        "restrict callers by source address"
    )
    assert f"from {A}) → got 200" in result.evidence[0]
    assert f"from {DENIED}) → got 200" in result.evidence[1]
    assert f"FAIL denied-source: the receiver accepted a notification from {DENIED}" in (
        checked.summary()
    )
    assert seen.requests == [A, DENIED]


async def test_a_reset_connection_from_the_denied_address_is_a_refusal() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if writer.get_extra_info("peername")[0] == DENIED:
            # SO_LINGER 0: the close is a RST, as a firewall's REJECT with tcp-reset.
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    async with server:
        checked = await webhook_sim.check(url, denied_source=DENIED, only=["denied-source"])
    [result] = checked.results
    assert result.status == "passed", checked.summary()
    assert f"from {DENIED}) → got reset" in result.evidence[1]


async def test_a_refusal_proves_nothing_when_the_usual_address_is_refused_too() -> None:
    async with recording_receiver(refuse="127.0.0.1") as (url, _):
        checked = await webhook_sim.check(url, denied_source=DENIED, only=["denied-source"])
    [result] = checked.results
    assert result.status == "failed"
    assert result.message.startswith("no evidence: from the default address it answered 403")


async def test_a_dead_receiver_never_passes_denied_source() -> None:
    url = f"http://127.0.0.1:{closed_port()}/hook"
    checked = await webhook_sim.check(url, denied_source=DENIED, only=["denied-source"])
    [result] = checked.results
    assert result.status == "failed"
    assert "from the default address it got no HTTP answer (refused)" in result.message


async def test_without_denied_source_it_is_skipped_saying_how_to_enable_it() -> None:
    checked = await webhook_sim.check(f"http://127.0.0.1:{closed_port()}/", only=["denied-source"])
    [result] = checked.results
    assert result.status == "skipped"
    assert "give it a local address the receiver must refuse" in result.message
    assert "--denied-source" in result.message
    assert not checked.passed  # asked for by name, and skipped


async def test_the_receiver_s_own_view_is_read_from_the_same_address() -> None:
    # A receiver that allows only the platform's addresses would refuse no-regression's GET
    # from any other.
    seen: list[tuple[str, str | None]] = []

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        seen.append(("POST", request.remote))
        return web.Response(text="ok")

    async def view(request: web.Request) -> web.Response:
        seen.append(("GET", request.remote))
        return web.json_response({"status": 3})

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/processes/{id}", view)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        checked = await webhook_sim.check(
            base + "/hook", flow="by-client", only=["no-regression"], source_address=[A],
            verify_url=base + "/processes/{id}",
        )  # fmt: skip
    finally:
        await runner.cleanup()
    assert checked.passed, checked.summary()
    assert {method for method, _ in seen} == {"GET", "POST"}
    assert {source for _, source in seen} == {A}


# The sandbox receiver's allowlist, as a check sees it -------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("allow", [True, False])
def test_check_denied_source_against_the_sandbox_allowlist(
    receiver_process: Callable[..., str], allow: bool, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """`receiver --allow-from 127.0.0.2/32` lets .2 in and answers 403 to .3: the check passes;
    the same receiver without an allowlist takes .3 too: the check fails with the evidence."""
    url = receiver_process(*(["--allow-from", "127.0.0.2/32"] if allow else []))
    code = main(["check", "--url", url, "--source-address", "127.0.0.2",
                 "--denied-source", "127.0.0.3", "--only", "denied-source"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == (0 if allow else 1), out + err
    assert ("PASS denied-source" if allow else "FAIL denied-source") in out
    if not allow:
        assert "accepted a notification from 127.0.0.3" in out
