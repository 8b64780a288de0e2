"""The sandbox receiver on its own: payload validation, faults, token endpoint, stats."""

from __future__ import annotations

import asyncio
import base64
import urllib.error
import urllib.request
from collections.abc import Callable

import aiohttp
import pytest
from pydantic import ValidationError

from dispatcher.cli import main
from dispatcher.errors import ConfigError
from dispatcher.payloads import PayloadFactory, notification
from dispatcher.receiver import ReceiverConfig
from dispatcher.receiver.app import infer_auth
from dispatcher.receiver.validate import InvalidPayload, validate

from .conftest import StartReceiver
from .helpers import deliver, outcomes, settings

UUID = "8263a268-5388-492a-bca2-28e1ff4a69f0"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([], "JSON object"),
        ({"foo": 1}, "neither"),
        ({"processId": "nope", "state": "PROCESS_STATE_FINISHED", "flow": "id"}, "not a UUID"),
        ({"processId": UUID, "flow": "id"}, "missing field 'state'"),
        ({"processId": UUID, "state": "PROCESS_STATE_FINISHED"}, "missing field 'flow'"),
        ({"processId": UUID, "state": 3, "flow": "id"}, "state must be"),
        (
            {
                "processId": UUID,
                "state": "PROCESS_STATE_FINISHED",
                "flow": "id",
                "result": "expired",
            },
            "missing field 'lastEvent'",
        ),
        (
            {
                "processId": UUID,
                "state": "PROCESS_STATE_FINISHED",
                "flow": "id",
                "result": "ok",
                "lastEvent": "EVENT_TYPE_SESSION_ENDED",
            },
            "only when result is expired",
        ),
        ({"id": UUID}, "missing field 'status'"),
        ({"id": UUID, "status": "3"}, "status must be an integer"),
        ({"id": UUID, "status": True}, "status must be an integer"),
        ({"id": UUID, "status": 1}, "never notified"),
    ],
)
def test_contract_violations_are_refused_with_a_reason(payload: object, reason: str) -> None:
    with pytest.raises(InvalidPayload, match=reason):
        validate(payload)


def test_what_may_change_is_tolerated_and_flagged() -> None:
    assert validate({"id": UUID, "status": 9}).unknown
    unico = {"processId": UUID, "state": "PROCESS_STATE_PAUSED", "flow": "newflow"}
    assert validate(unico).unknown
    extra = validate({"id": UUID, "status": 3, "score": 1})
    assert extra.extra_fields == ("score",)
    assert not extra.unknown


async def test_fail_first_fails_each_notification_n_times(receiver: StartReceiver) -> None:
    r = await receiver(fail_first=2)
    f = PayloadFactory(2)
    plan = [notification(f.by_client(status=s)) for s in (2, 3)]
    _, trace = await deliver(settings(r.url, max_attempts=3), plan)
    assert outcomes(trace) == [["500", "500", "200"]] * 2
    stats = r.state.as_json()
    assert stats["injected_failures"] == 4
    assert stats["accepted"] == 2
    assert stats["unique"] == 2


async def test_status_and_fail_rate_faults(receiver: StartReceiver) -> None:
    r = await receiver(status=503)
    m, trace = await deliver(settings(r.url, max_attempts=2))
    assert outcomes(trace) == [["503", "503"]]
    r = await receiver(fail_rate=1.0)
    m, _ = await deliver(settings(r.url, max_attempts=2))
    assert m.exhausted == 1
    r = await receiver(fail_rate=0.5, seed=1)
    f = PayloadFactory(3)
    m, _ = await deliver(
        settings(r.url, max_attempts=1), [notification(f.by_client()) for _ in range(200)]
    )
    assert 50 < m.exhausted < 150


async def test_duplicates_are_counted_by_id_and_status(receiver: StartReceiver) -> None:
    r = await receiver()
    f = PayloadFactory(2)
    a = notification(f.by_client(status=2))
    b = notification(f.by_client(process_id=a.process_id, status=3))
    await deliver(settings(r.url, concurrency=1), [a, b, a.again(), a.again()])
    stats = r.state.as_json()
    assert (stats["unique"], stats["duplicates"], stats["accepted"]) == (2, 2, 4)


async def test_invalid_payload_and_stats_shape(receiver: StartReceiver) -> None:
    r = await receiver()
    async with aiohttp.ClientSession() as http:
        async with http.post(r.url + "/x", json={"id": UUID, "status": "x"}) as resp:
            assert resp.status == 400
            assert "status must be an integer" in (await resp.json())["error"]
        async with http.post(
            r.url + "/x", data="{}", headers={"Content-Type": "text/plain"}
        ) as resp:
            assert resp.status == 400
        async with http.get(r.url + "/_stats") as resp:
            stats = await resp.json()
    for key in (
        "received",
        "accepted",
        "rejected_auth",
        "invalid_payload",
        "unique",
        "duplicates",
        "peak_in_flight",
        "token_requests",
    ):
        assert key in stats
    assert stats["invalid_payload"] == 2


async def test_token_endpoint_refuses_bad_clients_and_grants(receiver: StartReceiver) -> None:
    r = await receiver(auth="oauth2", client_id="cid", client_secret="sec")
    token_url = r.url + "/oauth/token"
    async with aiohttp.ClientSession() as http:
        form = {"grant_type": "client_credentials", "client_id": "cid", "client_secret": "bad"}
        async with http.post(token_url, data=form) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"] == "invalid_client"
        form = {"grant_type": "password", "client_id": "cid", "client_secret": "sec"}
        async with http.post(token_url, data=form) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"] == "unsupported_grant_type"
        basic = {"Authorization": "Basic " + base64.b64encode(b"cid:sec").decode()}
        async with http.post(
            token_url, data={"grant_type": "client_credentials"}, headers=basic
        ) as resp:
            body = await resp.json()
            assert resp.status == 200
            assert body["token_type"] == "Bearer"
            assert body["expires_in"] == 3600
        # Only tokens it issued are accepted.
        note = notification(PayloadFactory(1).by_client())
        headers = {"Authorization": "Bearer forged", "Content-Type": "application/json"}
        async with http.post(r.url + "/", data=note.body, headers=headers) as resp:
            assert resp.status == 401
        headers["Authorization"] = f"Bearer {body['access_token']}"
        async with http.post(r.url + "/", data=note.body, headers=headers) as resp:
            assert resp.status == 200
    assert r.state.token_requests == 3


async def test_token_endpoint_refuses_malformed_client_credentials(
    receiver: StartReceiver,
) -> None:
    r = await receiver(auth="oauth2", client_id="cid", client_secret="sec")
    grant = {"grant_type": "client_credentials"}
    malformed = [
        "Basic not-base64!",
        "Basic " + base64.b64encode(b"cid").decode(),  # no colon
        "Basic " + base64.b64encode(b"\xff:sec").decode(),  # not UTF-8
        "Basic " + base64.b64encode("c\u00efd:sec".encode()).decode(),  # not ASCII
    ]
    async with aiohttp.ClientSession() as http:
        for header in malformed:
            # A malformed Basic header is refused, even with good credentials in the form.
            form = {**grant, "client_id": "cid", "client_secret": "sec"}
            headers = {"Authorization": header}
            async with http.post(r.url + "/oauth/token", data=form, headers=headers) as resp:
                assert resp.status == 401, header
                assert (await resp.json())["error"] == "invalid_client"
                assert resp.headers["WWW-Authenticate"] == "Basic"


async def test_undecodable_credentials_are_refused_not_a_crash(receiver: StartReceiver) -> None:
    r = await receiver(api_key="X-Key:abc")
    host, port = r.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Key: \xff\xfe\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    assert status_line.startswith(b"HTTP/1.1 401 ")
    assert r.state.rejected_auth == 1


def test_an_api_key_no_client_could_send_is_refused() -> None:
    with pytest.raises(ValidationError, match="header name 'X Key' is not a valid"):
        ReceiverConfig.model_validate({"api_key": "X Key:k"})
    with pytest.raises(ValidationError, match="Host cannot carry an API key"):
        ReceiverConfig.model_validate({"auth": "api-key", "api_key": "Host:k"})
    assert ReceiverConfig.model_validate({"api_key": "X-Key: v"}).expected_header() == (
        "X-Key",
        "v",
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"basic": "u:p"}, "basic"),
        ({"api_key": "X-Key:v"}, "api-key"),
        ({"client_id": "c", "client_secret": "s"}, "oauth2"),
        ({"client_id": "c"}, "oauth2"),  # then refused: the secret is missing
        ({}, "none"),
    ],
)
def test_auth_is_inferred_from_the_credential_given(given: dict[str, str], expected: str) -> None:
    assert infer_auth(None, **given) == expected
    assert infer_auth("none", **given) == "none"  # an explicit --auth wins


def test_auth_inference_refuses_two_kinds_and_reads_the_environment() -> None:
    with pytest.raises(ConfigError, match="--basic and --api-key given"):
        infer_auth(None, basic="u:p", api_key="k")
    assert infer_auth(None, env={"WEBHOOK_SIM_BASIC": "u:p"}) == "basic"
    # As the sender: the environment names the scheme only when no flag does, and unambiguously.
    assert infer_auth(None, api_key="k", env={"WEBHOOK_SIM_BASIC": "u:p"}) == "api-key"
    both = {"WEBHOOK_SIM_BASIC": "u:p", "WEBHOOK_SIM_API_KEY": "k"}
    assert infer_auth(None, env=both) == "none"
    assert ReceiverConfig.model_validate({"basic": "u:p"}).auth == "basic"
    with pytest.raises(ValidationError, match="say which the receiver expects"):
        ReceiverConfig.model_validate({"basic": "u:p", "api_key": "k"})


def test_basic_without_auth_flag_expects_basic(receiver_process: Callable[..., str]) -> None:
    url = receiver_process("--basic", "user:pa55word")
    body = notification(PayloadFactory(1).by_client()).body
    request = urllib.request.Request(
        url + "/", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    request.add_header("Authorization", "Basic " + base64.b64encode(b"user:pa55word").decode())
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--port", "70000"], "--port = 70000: must be between 0 and 65535"),
        (["--port", "-1"], "--port = -1: must be between 0 and 65535"),
        (["--basic", "u:p", "--api-key", "k"], "--basic and --api-key given"),
        (["--dedup-exact-keys", "-1"], "dedup_exact_keys"),
        (["--max-connections", "0"], "max_connections"),
        (["--read-timeout", "0"], "read_timeout_s"),
        (
            ["--api-key", "X Key:pa55word"],
            "receiver: api_key = ***: header name 'X Key' is not a valid header name",
        ),
    ],
)
def test_receiver_bad_input_is_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code = main(["receiver", *argv])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1, err
    assert expected in err
    assert "pa55word" not in err
