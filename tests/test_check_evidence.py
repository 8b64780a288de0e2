"""A check never passes without evidence: against endpoints that give none, every check of the
suite fails (or is skipped for a stated reason), and says what it lacked."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from dispatcher.checks.result import CheckResult
from dispatcher.checks.suite import (
    CHECKS,
    LENIENT_TIMEOUT_S,
    Check,
    CheckContext,
    Findings,
    Skipped,
    run_checks,
)
from dispatcher.cli import main
from dispatcher.errors import ConnectionRefused
from dispatcher.settings import Settings

from .conftest import StartReceiver, closed_port

BASIC = "integrator:Ev1dence-S3cret"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts and reads, never answers."""
    while await reader.read(65536):
        pass


async def _reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Takes the request, then resets the connection (SO_LINGER 0 makes close send a RST)."""
    await reader.read(65536)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers every request with bytes that are not HTTP."""
    await reader.read(65536)
    writer.write(b"\x00\x01garbage, not HTTP at all\r\n\r\n")
    await writer.drain()
    writer.close()


async def _not_json(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Valid HTTP, 200 to everything, with a body that is not JSON."""
    await reader.read(65536)
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
        b"Connection: close\r\n\r\nhello"
    )
    await writer.drain()
    writer.close()


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start a bare TCP server on 127.0.0.1 running `handler` per connection; its base URL."""
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []

    async def start(handler: Handler) -> str:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            # The client giving up first is its own business.
            with contextlib.suppress(ConnectionError, OSError):
                await handler(reader, writer)

        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    yield start
    for server in servers:
        server.close()
    for writer in writers:
        writer.transport.abort()
    for server in servers:
        await server.wait_closed()


def _context(base: str, *, silent: bool = False) -> CheckContext:
    """Every check applicable (by-Client, basic auth, verify URL, platform), all of them pointed
    at `base`, with small batches. Only an endpoint that never answers gets short deadlines: it
    times out whatever the machine's load, while one that refuses, resets or answers garbage is
    given the default deadlines, so that no verdict here can depend on how busy the CPU is."""
    settings = Settings.model_validate(
        {
            "url": base + "/hook",
            "flow": "by-client",
            "auth": {"type": "basic", "basic": BASIC},
            "timeout_s": 0.02 if silent else 10.0,
        }
    )
    return CheckContext(
        settings,
        seed=7,
        batch=4,
        burst=4,
        verify_url=base + "/processes/{id}",
        platform_url=base,
        fallback_create_url=base + "/start",
        fallback_count=1,
        fallback_within_s=0.5,
        fallback_window_s=0.5,
        lenient_timeout_s=0.02 if silent else LENIENT_TIMEOUT_S,
    )


def _assert_none_passed(results: list[CheckResult]) -> None:
    assert [r.name for r in results] == [c.name for c in CHECKS]
    for r in results:
        assert r.status in ("failed", "skipped"), r
        assert r.message, r
        if r.status == "failed":
            assert r.evidence, r
        assert BASIC.partition(":")[2] not in json.dumps(r.as_json())


@pytest.mark.e2e  # the whole check suite
@pytest.mark.parametrize("kind", ["dead", "silent", "reset", "garbage"])
async def test_no_check_passes_against_an_endpoint_that_gives_no_answer(
    raw_server: Callable[[Handler], Awaitable[str]], kind: str
) -> None:
    if kind == "dead":
        base = f"http://127.0.0.1:{closed_port()}"
    else:
        base = await raw_server({"silent": _silent, "reset": _reset, "garbage": _garbage}[kind])
    results = await run_checks(_context(base, silent=kind == "silent"))
    _assert_none_passed(results)
    # Every check applies here, so none may hide behind a skip.
    assert {r.status for r in results} == {"failed"}
    by_name = {r.name: r for r in results}
    rejects = by_name["rejects-bad-credentials"]
    assert "no evidence" in rejects.message
    assert "not a rejection" in rejects.message
    within = by_name["answers-within-timeout"].message
    assert ("timed out" if kind == "silent" else "no HTTP answer") in within
    assert "no HTTP answer" in by_name["fallback-polling"].message
    assert "/_platform/processes" in by_name["fallback-polling"].message


@pytest.mark.e2e  # the whole check suite
async def test_a_dead_port_never_passes_for_by_unico_without_auth_either() -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    settings = Settings.model_validate({"url": base})
    results = await run_checks(CheckContext(settings, batch=4, burst=4, burst_max_failure=1.0))
    _assert_none_passed(results)
    statuses = {r.name: r.status for r in results}
    assert statuses["rejects-bad-credentials"] == "skipped"
    assert statuses["no-regression"] == "skipped"
    assert statuses["fallback-polling"] == "skipped"
    # Even with every failure tolerated, a burst nobody answered is no evidence.
    assert statuses["burst-500"] == "failed"


@pytest.mark.e2e  # the whole check suite
async def test_http_answers_that_are_not_json_fail_the_checks_that_read_them(
    raw_server: Callable[[Handler], Awaitable[str]],
) -> None:
    base = await raw_server(_not_json)
    results = {r.name: r for r in await run_checks(_context(base))}
    regression = results["no-regression"]
    assert regression.status == "failed"
    assert "without a JSON 'status' field" in regression.message
    fallback = results["fallback-polling"]
    assert fallback.status == "failed"
    assert "not with webhook-sim platform's process list" in fallback.message
    assert "'hello'" in fallback.message
    # A 200 is a 200: the checks that only need 2xx answers have their evidence.
    assert results["idempotent-duplicates"].status == "passed"
    assert results["answers-within-timeout"].status == "passed"


@pytest.mark.e2e  # the whole check suite
async def test_healthy_sandbox_passes_every_applicable_check_with_evidence(
    receiver: StartReceiver,
) -> None:
    r = await receiver(auth="basic", basic=BASIC)
    settings = Settings.model_validate(
        {"url": r.url + "/hook", "flow": "by-client", "auth": {"type": "basic", "basic": BASIC}}
    )
    ctx = CheckContext(settings, seed=3, batch=20, burst=50, verify_url=r.url + "/processes/{id}")
    results = await run_checks(ctx)
    statuses = {x.name: x.status for x in results}
    assert statuses == {
        **dict.fromkeys((c.name for c in CHECKS), "passed"),
        "fallback-polling": "skipped",
    }
    for x in results:
        assert x.needs
        if x.status == "passed":
            assert x.evidence, x
            assert x.message == ""


def _check(body: Callable[[CheckContext], Awaitable[Findings]]) -> Check:
    return Check("probe", "a check made up for the test", body, needs="a made-up observation")


CTX = CheckContext(Settings.model_validate({"url": "http://127.0.0.1:9/"}))


async def test_a_check_that_observed_nothing_fails() -> None:
    async def nothing(ctx: CheckContext) -> Findings:
        return Findings(evidence=["looked, saw nothing"])

    result = await _check(nothing).run(CTX)
    assert result.status == "failed"
    assert result.message == (
        "no evidence: nothing was observed in favour of a pass; this check needs a made-up "
        "observation"
    )
    assert result.evidence == ("looked, saw nothing",)
    assert result.as_json()["needs"] == "a made-up observation"


async def test_a_check_with_support_and_nothing_missing_passes() -> None:
    async def seen(ctx: CheckContext) -> Findings:
        return Findings(evidence=["saw it"], support=1)

    assert (await _check(seen).run(CTX)).status == "passed"


async def test_missing_evidence_fails_even_with_support() -> None:
    async def partial(ctx: CheckContext) -> Findings:
        return Findings(missing=["1 of 2 got no HTTP answer (refused: 1)"], support=1)

    result = await _check(partial).run(CTX)
    assert result.status == "failed"
    assert result.message.startswith("no evidence: 1 of 2 got no HTTP answer")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionRefused("connection refused by 127.0.0.1:9"), "no usable answer: connection"),
        (KeyError("processes"), "the check stopped on KeyError: 'processes'"),
        (ValueError("Expecting value"), "the check stopped on ValueError: Expecting value"),
    ],
)
async def test_an_error_inside_a_check_is_a_failure_with_evidence(
    error: Exception, expected: str
) -> None:
    async def broken(ctx: CheckContext) -> Findings:
        raise error

    result = await _check(broken).run(CTX)
    assert result.status == "failed"
    assert expected in result.message
    assert any(expected in line for line in result.evidence)


async def test_a_missing_precondition_is_still_a_skip() -> None:
    async def not_here(ctx: CheckContext) -> Findings:
        raise Skipped("needs something this run does not have")

    result = await _check(not_here).run(CTX)
    assert (result.status, result.message) == ("skipped", "needs something this run does not have")


@pytest.mark.e2e  # the whole check suite
def test_check_with_an_unreachable_platform_writes_its_reports_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    junit, report = tmp_path / "check.xml", tmp_path / "check.json"
    code = main(
        ["check", "--url", dead + "/hook", "--platform", dead, "--junit", str(junit),
         "--report-json", str(report), "--batch", "3", "--burst", "3"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in out + err
    assert "PASS" not in out
    assert "FAIL fallback-polling" in out
    data = json.loads(report.read_text())
    assert data["passed"] is False
    statuses = {c["name"]: c["status"] for c in data["checks"]}
    assert len(statuses) == len(CHECKS)
    assert "passed" not in statuses.values()
    assert statuses["fallback-polling"] == "failed"
    assert "no-regression" in junit.read_text()
