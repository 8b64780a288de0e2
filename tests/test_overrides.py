"""Payload control: the user's values, ids and bodies arrive as given, at a receiver written
here and at the sandbox receiver; every bad input is one line, before anything is sent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import webhook_sim
from dispatcher.cli import main
from dispatcher.errors import ConfigError
from dispatcher.overrides import Edit, parse_set
from dispatcher.traffic import TrafficPlan

from .conftest import StartReceiver
from .helpers import Recorder, recording


def test_values_are_json_when_they_parse_else_text() -> None:
    assert parse_set("status=7").value == 7
    assert parse_set('result="expired"').value == "expired"
    assert parse_set("result=expired").value == "expired"
    assert parse_set("extra.trace=1").path == ("extra", "trace")
    assert parse_set('extra={"a": [1, null]}').value == {"a": [1, None]}
    assert parse_set("note=").value == ""
    # Python's json takes these; JSON does not, nor would a strict receiver: text.
    for raw in ("NaN", "-Infinity", "1e999", "[" * 50_000):
        assert parse_set(f"x={raw}").value == raw


def test_changes_apply_in_order_and_leave_the_original_alone() -> None:
    edit = Edit.of(["status=7", "extra.trace=1", "extra.more.deep=true"], ["id"])
    assert edit is not None
    original = {"id": "x", "status": 3}
    assert edit.apply(original) == {"status": 7, "extra": {"trace": 1, "more": {"deep": True}}}
    assert original == {"id": "x", "status": 3}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--set", "status"], "--set = 'status': not FIELD=VALUE"),
        (["--set", "=1"], "--set = '': not a field path"),
        (["--set", "a..b=1"], "--set = 'a..b': not a field path"),
        (["--set", "status.x=1", "--flow", "by-client"], "status.x: status is not an object"),
        (["--unset", "nope"], "--unset: nope: no such field to unset"),
        (["--bodies", "BAD", "--set", "a=1"], "--bodies and --set/--unset do not go together"),
        (["--bodies", "BAD"], "BAD:2: not JSON"),
        (["--bodies", "ARRAY"], "ARRAY:1: a JSON list, not an object"),
        (["--bodies", "NOID"], "NOID:1: no 'processId': not a by-unico notification body"),
        (["--bodies", "EMPTY"], "no body in it"),
        (["--process-ids", "EMPTY"], "--process-ids = EMPTY: no id in it"),
        (["--bodies", "MISSING"], "--bodies = MISSING: cannot read it"),
        (["--bodies", "ONE", "--count", "3"], "--count and --bodies do not go together"),
        (["--log", "ONE", "--report-json", "ONE"], "--report-json writes there too"),
    ],
)  # fmt: skip
def test_bad_payload_control_is_one_line_and_exit_2(
    argv: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "BAD": '{"processId": "a"}\n{"processId": \n',
        "ARRAY": "[1]\n",
        "NOID": '{"id": "a", "status": 3}\n',
        "EMPTY": "\n\n",
        "ONE": '{"processId": "a", "state": "PROCESS_STATE_FINISHED"}\n',
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    argv = [str(tmp_path / a) if a in (*files, "MISSING") else a for a in argv]
    for name in (*files, "MISSING"):
        expected = expected.replace(f"{name}:", f"{tmp_path / name}:")
        expected = expected.replace(f"= {name}", f"= {tmp_path / name}")
    code = main(["run", "--url", "http://127.0.0.1:9/", "--workers", "1", *argv])
    _, err = capsys.readouterr()
    assert code == 2, err
    assert err.startswith("webhook-sim: error: ")
    assert err.count("\n") == 1
    assert expected in err


def test_duplicates_and_reordering_still_happen_with_changes() -> None:
    edit = Edit.of(["extra.trace=1"])
    plan = TrafficPlan(count=300, flow="by-client", duplicates=0.3, reorder=1.0, seed=1, edit=edit)
    notes = list(plan)
    assert all(json.loads(n.body)["extra"] == {"trace": 1} for n in notes)
    assert any(n.duplicate for n in notes)
    assert any(n.reordered for n in notes)
    plain = TrafficPlan(count=300, flow="by-client", duplicates=0.3, reorder=1.0, seed=1)
    # The same traffic, only the bodies changed: the same draws decide every fault.
    assert [(n.process_id, n.key, n.duplicate, n.reordered) for n in notes] == [
        (n.process_id, n.key, n.duplicate, n.reordered) for n in plain
    ]


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[Recorder, str]]:
    async with recording() as (rec, url):
        yield rec, url


async def test_overrides_and_ids_arrive_as_given(
    recorder: tuple[Recorder, str], tmp_path: Path
) -> None:
    rec, url = recorder
    ids = tmp_path / "ids.txt"
    ids.write_text("case-001\ncase-002\n\ncase-003\n")
    result = await webhook_sim.run(
        url, count=7, flow="by-client", statuses="3", process_ids=ids,
        set=["status=7", "extra.trace=1", 'note="x=y"'], seed=2,
    )  # fmt: skip
    assert result.passed, result
    got = [json.loads(b) for b in rec.bodies]
    assert sorted(g["id"] for g in got) == sorted(["case-001", "case-002", "case-003"] * 2
                                                  + ["case-001"])  # fmt: skip
    assert all(g == {"id": g["id"], "status": 7, "extra": {"trace": 1}, "note": "x=y"} for g in got)


async def test_bodies_arrive_byte_for_byte_in_order(
    recorder: tuple[Recorder, str], tmp_path: Path
) -> None:
    rec, url = recorder
    lines = [
        b'{"processId":"p-1","state":"PROCESS_STATE_FINISHED","flow":"id","result":"ok"}',
        b'{ "processId" : "p-2", "state": "PROCESS_STATE_FINISHED",   "unusual":  [1, 2.50] }',
        '{"processId":"p-3","state":"PROCESS_STATE_FINISHED","name":"Jo\u00e3o"}'.encode(),
    ]
    source = tmp_path / "bodies.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\r\n")
    result = await webhook_sim.run(url, bodies=source, concurrency=1)
    assert result.report.notifications.delivered == 3
    assert rec.bodies == lines
    rec.take()
    one = tmp_path / "one.jsonl"
    one.write_bytes(lines[1])
    sent = await webhook_sim.send(url, bodies=one)
    assert sent.delivered
    assert rec.bodies == [lines[1]]


async def test_the_sandbox_receiver_takes_changed_bodies(
    receiver: StartReceiver, tmp_path: Path
) -> None:
    r = await receiver()
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(f"00000000-0000-4000-8000-00000000000{i}" for i in range(5)))
    result = await webhook_sim.run(r.url, count=20, process_ids=ids, set=["extra.trace=1"], seed=3)
    assert result.passed, result
    assert result.report.notifications.delivered == 20
    assert r.state.received == 20


def test_edit_check_names_the_fields_a_body_has() -> None:
    edit = Edit.of(unsets=["nope"])
    assert edit is not None
    with pytest.raises(ConfigError, match=r"a by-client body has: id, status"):
        edit.check({"id": "x", "status": 3}, "by-client")


@pytest.mark.parametrize("argv", [["--unset", "state"], ["--unset", "processId"],
                                  ["--flow", "by-client", "--unset", "status"]])  # fmt: skip
async def test_a_body_without_the_fields_reports_name_it_by_is_still_sent(
    recorder: tuple[Recorder, str], argv: list[str]
) -> None:
    rec, url = recorder
    flags = dict(zip(argv[::2], argv[1::2], strict=True))
    result = await webhook_sim.run(
        url, count=3, seed=1, unset=[flags["--unset"]], flow=flags.get("--flow")
    )
    assert result.report.notifications.delivered == 3
    assert all(flags["--unset"] not in json.loads(b) for b in rec.bodies)


def test_a_byte_order_mark_is_the_files_not_the_bodys(tmp_path: Path) -> None:
    from dispatcher.overrides import read_bodies

    source = tmp_path / "b.jsonl"
    source.write_bytes(b'\xef\xbb\xbf{"processId": "p"}\n')
    assert read_bodies(source, "by-unico") == (b'{"processId": "p"}',)
