"""The sandbox receiver on its own: payload validation, faults, token endpoint, stats."""

from __future__ import annotations

import base64

import aiohttp
import pytest

from dispatcher.payloads import PayloadFactory, notification
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
