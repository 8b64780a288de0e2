"""The platform's delivery rules against real aiohttp servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dispatcher import USER_AGENT
from dispatcher.engine import EngineOptions
from dispatcher.metrics import Metrics
from dispatcher.payloads import Notification, PayloadFactory, notification
from dispatcher.report import Trace
from dispatcher.settings import Settings

from .conftest import closed_port
from .helpers import deliver as _deliver
from .helpers import outcomes, settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[..., Awaitable[str]]


@pytest.fixture(params=["aiohttp", "lean"])
def client(request: pytest.FixtureRequest) -> str:
    """Every delivery rule holds for both HTTP clients: aiohttp's, and the lean one of load."""
    return str(request.param)


async def deliver(
    s: Settings, plan: list[Notification] | None = None, *, client: str
) -> tuple[Metrics, Trace]:
    return await _deliver(s, plan, options=EngineOptions(seed=1, http_client=client))  # type: ignore[arg-type]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(routes: dict[str, Handler], ssl_context: ssl.SSLContext | None = None) -> str:
        app = web.Application()
        for path, handler in routes.items():
            app.router.add_route("*", path, handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = runner.addresses[0][1]
        return f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_success_is_2xx_only(serve: Serve, client: str) -> None:
    codes = iter([204, 201, 299, 300, 400])

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=next(codes))

    url = await serve({"/": handler})
    m, trace = await deliver(settings(url, max_attempts=1, concurrency=1), _plan(5), client=client)
    assert outcomes(trace) == [["204"], ["201"], ["299"], ["300"], ["400"]]
    assert (m.delivered, m.exhausted) == (3, 2)


async def test_redirect_is_a_failure_and_not_followed(serve: Serve, client: str) -> None:
    hits = {"target": 0}

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/target")

    async def target(request: web.Request) -> web.Response:
        hits["target"] += 1
        return web.Response()

    url = await serve({"/": redirect, "/target": target})
    m, trace = await deliver(settings(url + "/", max_attempts=2), client=client)
    assert outcomes(trace) == [["302", "302"]]
    assert m.exhausted == 1
    assert hits["target"] == 0
    assert "not followed" in trace.attempts[id(trace.order[0])][0].detail


async def test_timeout_is_a_failure(serve: Serve, client: str) -> None:
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    url = await serve({"/": slow})
    try:
        m, trace = await deliver(settings(url, max_attempts=2, timeout_s=0.2), client=client)
    finally:
        release.set()
    assert outcomes(trace) == [["timeout", "timeout"]]
    assert m.exhausted == 1


async def test_refused_connection_is_retried_then_exhausted(client: str) -> None:
    m, trace = await deliver(
        settings(f"http://127.0.0.1:{closed_port()}/", max_attempts=3), client=client
    )
    assert outcomes(trace) == [["refused"] * 3]
    assert m.by_outcome == {"refused": 3}


async def test_reset_connection(serve: Serve, client: str) -> None:
    async def hang_up(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    url = await serve({"/": hang_up})
    _, trace = await deliver(settings(url, max_attempts=1), client=client)
    assert outcomes(trace) == [["reset"]]


async def test_endless_body_is_cut_at_the_bound(serve: Serve, client: str) -> None:
    written = {"bytes": 0}

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        try:
            for _ in range(100_000):  # bounded: 6.5 GB, far more than the client ever reads
                await resp.write(b"x" * 65536)
                written["bytes"] += 65536
        except (ConnectionResetError, ConnectionError):
            pass
        return resp

    url = await serve({"/": endless})
    m, trace = await deliver(settings(url, max_attempts=1, max_body_bytes=1024), client=client)
    assert m.delivered == 1
    assert trace.attempts[id(trace.order[0])][0].detail.endswith("…")
    assert written["bytes"] < 100_000 * 65536


async def test_request_shape_user_agent_and_extra_headers(serve: Serve, client: str) -> None:
    seen: dict[str, str] = {}

    async def record(request: web.Request) -> web.Response:
        seen.update(request.headers)
        seen["method"] = request.method
        seen["body"] = await request.text()
        return web.Response()

    url = await serve({"/": record})
    await deliver(settings(url, headers=["X-Env:staging", "X-Trace: a:b"]), client=client)
    assert seen["method"] == "POST"
    assert seen["Content-Type"] == "application/json"
    assert seen["User-Agent"] == USER_AGENT
    assert seen["X-Env"] == "staging"
    assert seen["X-Trace"] == "a:b"
    assert seen["body"].startswith('{"processId":')


async def test_retry_after_is_honoured_within_the_cap(serve: Serve, client: str) -> None:
    answers = iter([(503, "30"), (429, "0"), (200, None)])

    async def busy(request: web.Request) -> web.Response:
        status, retry_after = next(answers)
        headers = {"Retry-After": retry_after} if retry_after else {}
        return web.Response(status=status, headers=headers)

    url = await serve({"/": busy})
    _, trace = await deliver(settings(url, retry_after_max_s=0.2, interval_s=0.01), client=client)
    note = trace.order[0]
    assert outcomes(trace) == [["503", "429", "200"]]
    first, second, last = trace.waits[id(note)]
    assert first == pytest.approx(0.2)  # asked for 30 s, capped at 0.2 s
    assert second is not None
    assert second < 0.2  # Retry-After: 0 leaves the ordinary backoff
    assert last is None


# TLS -----------------------------------------------------------------------------------------


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook-sim test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_tls_verified_by_default_private_ca_and_insecure(
    serve: Serve, tmp_path: Path, client: str
) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def ok(request: web.Request) -> web.Response:
        return web.Response()

    url = await serve({"/": ok}, ssl_context=context)
    _, trace = await deliver(settings(url, max_attempts=1), client=client)
    assert outcomes(trace) == [["tls"]]
    m, _ = await deliver(settings(url, max_attempts=1, ca_bundle=str(cert)), client=client)
    assert m.delivered == 1
    m, _ = await deliver(settings(url, max_attempts=1, insecure=True), client=client)
    assert m.delivered == 1


def _plan(n: int) -> list[Notification]:
    f = PayloadFactory(9)
    return [notification(f.by_client(status=3)) for _ in range(n)]


async def test_connection_close_and_keep_alive(serve: Serve, client: str) -> None:
    """A server that closes after each answer, and one that keeps connections: both work."""
    peers: set[tuple[str, int]] = set()

    async def closing(request: web.Request) -> web.Response:
        return web.Response(headers={"Connection": "close"})

    async def keeping(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername"))
        return web.Response()

    url = await serve({"/close": closing, "/keep": keeping})
    m, _ = await deliver(settings(url + "/close", concurrency=1), _plan(5), client=client)
    assert m.delivered == 5
    m, _ = await deliver(settings(url + "/keep", concurrency=1), _plan(5), client=client)
    assert m.delivered == 5
    assert len(peers) == 1  # one connection, reused for all five
