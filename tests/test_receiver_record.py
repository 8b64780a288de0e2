"""The sandbox receiver's --record (one JSON line per request) and --allow-from (403 to any
other source). Loopback only: 127.0.0.2 and 127.0.0.3 are loopback on Linux (all of 127/8)."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import socket
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dispatcher.cli import main
from dispatcher.delivery import AttemptResult
from dispatcher.engine import Engine
from dispatcher.payloads import Notification, PayloadFactory, notification
from dispatcher.receiver import ReceiverConfig, start_receiver
from dispatcher.receiver.allow import parse_network, source_allowed
from dispatcher.receiver.record import masked_form

from .conftest import ReceiverProcess, StartReceiver
from .helpers import Until, deliver, outcomes, settings

JSON = {"Content-Type": "application/json"}
TIMEOUT_S = 30.0  # how long a loopback request may take: never a measurement


def read_record(path: Path) -> list[dict[str, Any]]:
    """Every line of a record, parsed; a record ends with a whole line."""
    data = path.read_bytes()
    assert data.endswith(b"\n"), data[-200:]
    return [json.loads(line) for line in data.decode("ascii").splitlines()]


def call(
    url: str,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    source: str | None = None,
) -> tuple[int, bytes]:
    """One request from `source` (a loopback address to bind to): (status, body)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    source_address = (source, 0) if source else None
    conn = http.client.HTTPConnection(
        host, int(port), timeout=TIMEOUT_S, source_address=source_address
    )
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def stats(url: str, source: str | None = None) -> dict[str, Any]:
    status, body = call(url, "GET", "/_stats", source=source)
    assert status == 200, body
    result: dict[str, Any] = json.loads(body)
    return result


def raw_status_line(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=TIMEOUT_S) as sock:
        sock.sendall(data)
        return sock.makefile("rb").readline()


def binds(address: str, family: socket.AddressFamily = socket.AF_INET) -> bool:
    try:
        with socket.socket(family) as s:
            s.bind((address, 0))
    except OSError:
        return False
    return True


# --record ----------------------------------------------------------------------------------

BASIC = "recorder:pa55-word-91"
KEY = "X-Partner:s3cr3t-partner-value"  # a header name is_secret_header would not mask


@pytest.mark.parametrize(
    ("flags", "auth", "secrets"),
    [
        (
            ["--basic", BASIC],
            {"type": "basic", "basic": BASIC},
            ["pa55-word-91", base64.b64encode(BASIC.encode()).decode()],
        ),
        (
            ["--api-key", KEY],
            {"type": "api-key", "api_key": KEY},
            ["s3cr3t-partner-value"],
        ),
    ],
    ids=["basic", "api-key"],
)
async def test_a_run_is_recorded_whole_bodies_exact_credentials_masked(
    receiver_process: Callable[..., str],
    tmp_path: Path,
    flags: list[str],
    auth: dict[str, str],
    secrets: list[str],
) -> None:
    record = tmp_path / "record.jsonl"
    url = receiver_process("--record", str(record), "--fail-first", "1", *flags)
    f = PayloadFactory(5)
    plan = [notification(f.by_client(status=s)) for s in (2, 3, 4, 5)]
    plan += [notification(f.by_unico()) for _ in range(4)]
    _, trace = await deliver(settings(url, auth=auth, max_attempts=3), plan)
    assert outcomes(trace) == [["500", "200"]] * len(plan)
    # One without credentials: refused, and recorded too.
    assert call(url, "POST", "/", plan[0].body, JSON)[0] == 401
    counters = stats(url)

    lines = read_record(record)
    assert len(lines) == counters["requests"]  # the /_stats request included, as it counted
    notifications = [line for line in lines if line["path"] == "/"]
    assert len(notifications) == counters["received"] == 2 * len(plan) + 1
    assert Counter(line["body"].encode() for line in notifications) == Counter(
        {n.body: 2 for n in plan}
    ) + Counter({plan[0].body: 1})
    assert Counter(line["answer"]["status"] for line in notifications) == {
        500: len(plan),
        200: len(plan),
        401: 1,
    }
    assert lines[-1]["path"] == "/_stats"
    for line in notifications:
        headers = dict(line["headers"])
        credential = "Authorization" if auth["type"] == "basic" else "X-Partner"
        if line["answer"]["status"] != 401:
            assert headers[credential] == "***"
        assert line["method"] == "POST"
        assert line["source"] == "127.0.0.1"
        assert isinstance(line["source_port"], int)
        assert line["time"].endswith("Z")
        assert len(line["time"]) == len("2026-11-26T16:00:00.000000Z")
        assert isinstance(line["t_s"], float)
    text = record.read_text()
    for secret in secrets:
        assert secret not in text


async def test_the_api_key_header_is_masked_by_name_for_python_callers(
    receiver: StartReceiver, tmp_path: Path
) -> None:
    # No command line here: the redactor never heard of this key, only the config names it.
    record = tmp_path / "record.jsonl"
    r = await receiver(api_key="X-Partner:in-process-key-8", record=record)
    note = notification(PayloadFactory(2).by_client()).body
    headers = {**JSON, "X-Partner": "in-process-key-8", "X-Trace": "visible"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(r.url + "/", data=note, headers=headers) as resp,
    ):
        assert resp.status == 200
    await r.close()  # closes the record too
    (line,) = read_record(record)
    assert dict(line["headers"])["X-Partner"] == "***"
    assert dict(line["headers"])["X-Trace"] == "visible"
    assert "in-process-key-8" not in record.read_text()


def test_refusals_odd_bodies_and_credential_names_are_recorded(
    receiver_process: Callable[..., str], tmp_path: Path
) -> None:
    record = tmp_path / "record.jsonl"
    url = receiver_process("--record", str(record), "--api-key", KEY, "--status", "503")
    key = {"X-Partner": "s3cr3t-partner-value"}
    good = notification(PayloadFactory(9).by_client()).body
    binary = bytes(range(256))
    sent = [
        (call(url, "POST", "/", good, JSON), 401),
        (call(url, "POST", "/", b"{", {**JSON, **key}), 400),
        (call(url, "POST", "/", binary, {"Content-Type": "application/octet-stream", **key}), 400),
        (call(url, "POST", "/hook?token=query-secret-77&page=2", good, {**JSON, **key}), 503),
        (call(url, "GET", "/", headers={"X-Signature": "sig-secret-55", **key}), 405),
        (call(url, "GET", "/processes/unknown"), 404),
    ]
    assert [status for (status, _), _ in sent] == [expected for _, expected in sent]
    too_large = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n"
    assert raw_status_line(url, too_large).startswith(b"HTTP/1.1 413 ")
    counters = stats(url)

    lines = read_record(record)
    assert len(lines) == counters["requests"] == len(sent) + 2
    answers = [line["answer"] for line in lines]
    assert [a["status"] for a in answers] == [401, 400, 400, 503, 405, 404, 413, 200]
    assert answers[0]["reason"] == "missing X-Partner header"
    assert answers[1]["reason"].startswith("invalid payload: ")
    assert answers[2]["reason"].endswith("got application/octet-stream")
    assert answers[3]["reason"] == "injected status"
    assert answers[6]["reason"] == "request body larger than 1048576 bytes"
    assert answers[7] == {"status": 200}
    assert lines[0]["body"].encode() == good
    assert lines[1]["body"] == "{"
    assert base64.b64decode(lines[2]["body_base64"]) == binary
    assert "body" not in lines[2]
    assert lines[3]["path"] == "/hook?token=***&page=2"
    assert dict(lines[4]["headers"])["X-Signature"] == "***"
    assert lines[4]["body"] == ""
    assert "body" not in lines[6]
    assert lines[6]["body_omitted"].startswith("not read")
    text = record.read_text()
    for secret in ("s3cr3t-partner-value", "query-secret-77", "sig-secret-55"):
        assert secret not in text


def test_token_requests_are_recorded_with_the_secret_masked(
    receiver_process: Callable[..., str], tmp_path: Path
) -> None:
    record = tmp_path / "record.jsonl"
    secret = "rec-client-secret-42"
    url = receiver_process(
        "--record", str(record), "--client-id", "rec-client", "--client-secret", secret
    )
    form = f"grant_type=client_credentials&client_id=rec-client&client_secret={secret}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, body = call(url, "POST", "/oauth/token", form.encode(), headers)
    assert status == 200, body
    token = json.loads(body)["access_token"]
    basic = base64.b64encode(f"rec-client:{secret}".encode()).decode()
    grant = b"grant_type=client_credentials"
    status, _ = call(
        url, "POST", "/oauth/token", grant, {**headers, "Authorization": "Basic " + basic}
    )
    assert status == 200
    status, _ = call(url, "POST", "/oauth/token", secret.encode(), {"Content-Type": "text/plain"})
    assert status == 400
    note = notification(PayloadFactory(1).by_client()).body
    assert call(url, "POST", "/", note, {**JSON, "Authorization": f"Bearer {token}"})[0] == 200

    lines = read_record(record)
    assert [line["answer"]["status"] for line in lines] == [200, 200, 400, 200]
    assert (
        lines[0]["body"] == "grant_type=client_credentials&client_id=rec-client&client_secret=***"
    )
    assert lines[1]["body"] == grant.decode()
    assert dict(lines[1]["headers"])["Authorization"] == "***"
    assert "body" not in lines[2]
    assert "not a form" in lines[2]["body_omitted"]
    assert dict(lines[3]["headers"])["Authorization"] == "***"
    text = record.read_text()
    for leak in (secret, basic, token):
        assert leak not in text


def test_a_record_is_appended_through_a_symlink_never_replacing_it(
    receiver_process: Callable[..., str], tmp_path: Path
) -> None:
    target = tmp_path / "target.jsonl"
    target.write_text('{"earlier": true}\n')
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    url = receiver_process("--record", str(link))
    assert call(url, "GET", "/processes/x")[0] == 404
    assert link.is_symlink()
    lines = read_record(target)
    assert lines[0] == {"earlier": True}
    assert [line["path"] for line in lines[1:]] == ["/processes/x"]


class Answered(Until):
    """Until, keeping the body of every notification the sender saw answered 200."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    def on_attempt(
        self, note: Notification, result: AttemptResult, retry_in_s: float | None
    ) -> None:
        if result.outcome == "200":
            self.bodies.append(note.body)
        super().on_attempt(note, result, retry_in_s)


@pytest.mark.e2e  # a receiver subprocess, started here to be killed
async def test_a_killed_receiver_leaves_only_whole_lines_one_per_answer(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    receiver = ReceiverProcess("--record", str(record))
    try:
        f = PayloadFactory(11)
        plan = [notification(f.by_client()) for _ in range(5000)]
        watch = Answered()
        engine = Engine(settings(receiver.url, max_attempts=1, concurrency=20), observer=watch)
        watch.engine = engine
        midway = watch.when(lambda m: m.delivered >= 200)

        async def kill_midway() -> None:
            await midway.wait()  # after 200 answers, whatever the machine's speed
            receiver.proc.kill()

        killer = asyncio.create_task(kill_midway())
        metrics = await engine.run(plan)
        await killer
        assert receiver.proc.wait(TIMEOUT_S) == -9
    finally:
        receiver.stop(kill=True)

    lines = read_record(record)  # every line parses, and the last one is whole
    assert 200 <= metrics.delivered == len(watch.bodies) < len(plan)
    # Each line is written before its answer leaves: nothing the sender saw answered is missing.
    recorded = Counter(line["body"].encode() for line in lines if line["answer"]["status"] == 200)
    assert not Counter(watch.bodies) - recorded


# --allow-from ------------------------------------------------------------------------------


needs_loopback_aliases = pytest.mark.skipif(
    not (binds("127.0.0.2") and binds("127.0.0.3")),
    reason="127.0.0.2 and 127.0.0.3 are not loopback addresses here (only Linux has all of 127/8)",
)


@needs_loopback_aliases
def test_only_allowed_sources_get_in_every_path_included(
    receiver_process: Callable[..., str], tmp_path: Path
) -> None:
    record = tmp_path / "record.jsonl"
    url = receiver_process("--allow-from", "127.0.0.2/32", "--record", str(record))
    body = notification(PayloadFactory(3).by_client()).body
    assert call(url, "POST", "/", body, JSON, source="127.0.0.2")[0] == 200
    status, answer = call(url, "POST", "/", body, JSON, source="127.0.0.3")
    assert status == 403
    assert json.loads(answer) == {"error": "source address 127.0.0.3 is not allowed"}
    # The counters, and resetting them, are kept from outsiders too.
    assert call(url, "GET", "/_stats", source="127.0.0.3")[0] == 403
    assert call(url, "DELETE", "/_stats", source="127.0.0.1")[0] == 403
    counters = stats(url, source="127.0.0.2")
    assert counters["forbidden_source"] == 3
    assert counters["received"] == counters["accepted"] == 1
    assert counters["rejected_auth"] == 0
    lines = read_record(record)
    assert [(line["source"], line["answer"]["status"]) for line in lines] == [
        ("127.0.0.2", 200),
        ("127.0.0.3", 403),
        ("127.0.0.3", 403),
        ("127.0.0.1", 403),
        ("127.0.0.2", 200),
    ]


@needs_loopback_aliases
async def test_the_allowlist_answers_before_auth() -> None:
    config = ReceiverConfig.model_validate(
        {"basic": "u:long-password", "allow_from": ["127.0.0.2/32", "10.0.0.0/8"]}
    )
    running = await start_receiver(config)
    try:
        for source, expected in (("127.0.0.3", 403), ("127.0.0.2", 401)):
            connector = aiohttp.TCPConnector(local_addr=(source, 0))
            async with (
                aiohttp.ClientSession(connector=connector) as http,
                http.post(running.url + "/", data=b"{}", headers=JSON) as resp,
            ):
                assert resp.status == expected, source
        assert running.state.forbidden_source == 1
        assert running.state.rejected_auth == 1
    finally:
        await running.close()


@pytest.mark.skipif(
    not (socket.has_ipv6 and binds("::1", socket.AF_INET6)), reason="no IPv6 loopback here"
)
@pytest.mark.parametrize(
    ("allow", "expected"),
    [(["::1/128"], 200), (["::/0"], 200), (["fd00::/8", "127.0.0.0/8"], 403)],
)
async def test_ipv6_sources_are_checked(allow: list[str], expected: int) -> None:
    running = await start_receiver(ReceiverConfig.model_validate({"allow_from": allow}), host="::1")
    port = running.url.rsplit(":", 1)[1]
    body = notification(PayloadFactory(4).by_client()).body
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://[::1]:{port}/", data=body, headers=JSON) as resp,
        ):
            assert resp.status == expected
    finally:
        await running.close()


def test_a_source_is_matched_as_its_ipv4_self_when_mapped() -> None:
    nets = [parse_network("127.0.0.0/8"), parse_network("fd00::/8")]
    assert source_allowed(nets, "127.9.9.9")
    assert source_allowed(nets, "::ffff:127.0.0.1")  # a dual-stack listener's IPv4 client
    assert source_allowed(nets, "fd12::1")
    assert not source_allowed(nets, "128.0.0.1")
    assert not source_allowed(nets, "::1")
    assert not source_allowed(nets, None)
    assert not source_allowed(nets, "not an address")
    assert source_allowed([parse_network("fe80::/10")], "fe80::1%lo")


def test_credential_fields_of_a_form_are_masked_the_rest_kept() -> None:
    form = "grant_type=password&username=a%20b&password=p&client%5Fsecret=s&code=c&scope=x+y"
    assert masked_form(form) == (
        "grant_type=password&username=a%20b&password=***&client%5Fsecret=***&code=***&scope=x+y"
    )
    assert masked_form("") == ""
    assert masked_form("flag&token") == "flag&token"  # no value: nothing to mask


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("10.0.0.300/8", "is not an IP network"),
        ("10.1.2.3/8", "has host bits set (the network is 10.0.0.0/8)"),
        ("::1/129", "is not an IP network"),
        ("localhost", "is not an IP network"),
    ],
)
def test_a_bad_network_is_one_line_naming_the_flag(
    capsys: pytest.CaptureFixture[str], value: str, why: str
) -> None:
    code = main(["receiver", "--allow-from", "127.0.0.1", "--allow-from", value])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1, err
    assert f"webhook-sim: error: --allow-from = '{value}': {why}; allowed: " in err
    assert "CIDR" in err


def test_a_record_that_cannot_be_written_is_refused_before_listening(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["receiver", "--record", str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1, err
    assert f"--record = '{tmp_path}': is a directory" in err
