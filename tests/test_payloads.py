from __future__ import annotations

import json
import uuid

from dispatcher.contract import LAST_EVENTS, PROCESS_FLOWS, STATE_FINISHED
from dispatcher.payloads import PayloadFactory, by_client_payload, by_unico_payload, notification
from dispatcher.receiver.validate import validate


def test_by_unico_current_profile_matches_the_contract() -> None:
    p = PayloadFactory(3).by_unico(result="ok")
    assert list(p) == ["processId", "state", "flow", "result"]
    assert p["state"] == STATE_FINISHED
    assert p["flow"] in PROCESS_FLOWS
    assert str(uuid.UUID(p["processId"])) == p["processId"]


def test_expired_carries_last_event_and_description() -> None:
    p = by_unico_payload("8263a268-5388-492a-bca2-28e1ff4a69f0", flow="id", result="expired")
    assert p == {
        "processId": "8263a268-5388-492a-bca2-28e1ff4a69f0",
        "state": "PROCESS_STATE_FINISHED",
        "flow": "id",
        "result": "expired",
        "lastEvent": "EVENT_TYPE_SESSION_ENDED",
        "lastEventDescription": "Session ended by timeout or by new session created",
    }
    random_event = PayloadFactory(1).by_unico(result="expired")
    assert random_event["lastEvent"] in LAST_EVENTS


def test_minimal_profile_has_three_fields() -> None:
    p = PayloadFactory(3).by_unico(result="expired", profile="minimal")
    assert set(p) == {"processId", "state", "flow"}


def test_by_client_shape() -> None:
    assert by_client_payload("8263a268-5388-492a-bca2-28e1ff4a69f0", 3) == {
        "id": "8263a268-5388-492a-bca2-28e1ff4a69f0",
        "status": 3,
    }


def test_seed_makes_payloads_reproducible() -> None:
    a = [PayloadFactory(42).by_unico() for _ in range(1)] + [PayloadFactory(42).by_client()]
    b = [PayloadFactory(42).by_unico() for _ in range(1)] + [PayloadFactory(42).by_client()]
    assert a == b
    assert PayloadFactory(1).process_id() != PayloadFactory(2).process_id()


def test_body_is_the_json_of_the_payload_and_valid_for_the_receiver() -> None:
    f = PayloadFactory(5)
    for payload in (
        f.by_unico(result="ok"),
        f.by_unico(result="expired"),
        f.by_unico(result="invalid_identity"),
        f.by_unico(profile="minimal"),
        *(f.by_client(status=s) for s in (2, 3, 4, 5)),
    ):
        note = notification(payload)
        assert json.loads(note.body) == payload
        accepted = validate(payload)
        assert not accepted.unknown
        assert accepted.process_id == note.process_id
