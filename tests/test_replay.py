"""The attempt log (--log) and `replay`: every attempt written as it happens and never a
secret; the failed notifications of a run sent again, exactly, against a fixed receiver; a
recording replayed; curl commands that a receiver accepts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from dispatcher.cli import main

from .helpers import Recorder, recording

pytestmark = [pytest.mark.e2e]
SECRET = "integrator:S3cret-pw"


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Recorder, str]]:
    async with recording() as (rec, url):
        yield rec, url


async def cli(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatcher", *argv, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as resp:  # loopback only
        body: bytes = resp.read()
        return body


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_replay_only_failed_sends_exactly_the_failed_set(
    receiver: tuple[Recorder, str], tmp_path: Path
) -> None:
    rec, url = receiver
    rec.failing = lambda pid: pid[0] in "01234567"  # about half the processes
    log = tmp_path / "attempts.jsonl"
    code, out, err = await cli(
        "run", "--url", url, "--count", "60", "--seed", "3", "--flow", "by-client",
        "--duplicates", "0.2", "--max-attempts", "2", "--interval", "0.01", "--workers", "2",
        "--basic", SECRET, "--log", str(log),
    )  # fmt: skip
    assert code == 1, out + err  # some were exhausted
    written = lines(log)
    assert "S3cret-pw" not in log.read_text()
    assert {line["auth"] for line in written} == {"basic"}
    finals = [line for line in written if line["final"]]
    assert len(finals) == len({line["notification"] for line in written})
    exhausted = [line["body"].encode() for line in finals if line["final"] == "exhausted"]
    assert exhausted
    assert all(line["attempt"] == 2 for line in finals if line["final"] == "exhausted")
    # Replayed in the order the log says they were first sent.
    first: dict[str, float] = {}
    for line in written:
        sent = line["t_s"] - (line["latency_ms"] or 0) / 1000
        first[line["notification"]] = min(first.get(line["notification"], sent), sent)
    in_order = [
        line["body"].encode()
        for line in sorted(
            (f for f in finals if f["final"] == "exhausted"), key=lambda f: first[f["notification"]]
        )
    ]

    rec.take()
    rec.failing = lambda _: False  # the receiver is fixed
    code, out, err = await cli("replay", str(log), "--basic", SECRET, "--concurrency", "1")
    assert code == 0, out + err
    assert Counter(rec.bodies) == Counter(exhausted)
    assert rec.bodies == in_order


async def test_a_run_killed_with_sigkill_leaves_a_log_that_parses(
    receiver: tuple[Recorder, str], tmp_path: Path
) -> None:
    _, url = receiver
    log = tmp_path / "killed.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatcher", "run", "--url", url, "--count", "1000000",
        "--workers", "1", "--log", str(log),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (log.exists() and log.stat().st_size > 20_000):
        assert time.monotonic() < deadline, "the run never wrote its log"
        await asyncio.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    written = lines(log)  # every line parses: each was one write()
    assert len(written) > 10
    assert all(line["log"] == "webhook-sim attempt" for line in written)


async def test_a_recording_replays_against_another_receiver(
    receiver_process: Callable[..., str], receiver: tuple[Recorder, str], tmp_path: Path
) -> None:
    rec, url = receiver
    record = tmp_path / "record.jsonl"
    sandbox = receiver_process("--record", str(record), "--fail-rate", "0.3", "--seed", "2")
    code, out, err = await cli("run", "--url", sandbox, "--count", "30", "--max-attempts", "1",
                               "--seed", "8", "--workers", "1")  # fmt: skip
    assert code == 1, out + err
    recorded = [r for r in lines(record) if r["method"] == "POST" and "body" in r]
    failed = [r["body"].encode() for r in recorded if r["answer"]["status"] != 200]
    assert failed
    code, out, err = await cli("replay", str(record), "--url", url, "--concurrency", "1")
    assert code == 0, out + err
    assert rec.bodies == failed
    code, _, err = await cli("replay", str(record))
    assert code == 2
    assert "--url is required" in err


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_print_curl_is_accepted_by_the_sandbox(
    receiver_process: Callable[..., str], receiver: tuple[Recorder, str], tmp_path: Path
) -> None:
    _, url = receiver
    log = tmp_path / "a.jsonl"
    code, out, err = await cli("run", "--url", url, "--count", "3", "--seed", "1",
                               "--workers", "1", "--log", str(log))  # fmt: skip
    assert code == 0, out + err
    sandbox = receiver_process("--basic", SECRET)
    env = {"WEBHOOK_SIM_BASIC": SECRET}
    code, script, err = await cli("replay", str(log), "--only", "all", "--url", sandbox,
                                  "--auth", "basic", "--print-curl", env=env)  # fmt: skip
    assert code == 0, err
    assert "S3cret-pw" not in script
    assert script.count("curl ") == 3
    (tmp_path / "replay.sh").write_text(script)
    proc = await asyncio.create_subprocess_exec(
        "sh", str(tmp_path / "replay.sh"), env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, curl_err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, curl_err
    stats = json.loads(await asyncio.to_thread(_get, sandbox.rstrip("/") + "/_stats"))
    assert stats["accepted"] == 3
    assert stats["rejected_auth"] == 0


@pytest.mark.parametrize(
    ("content", "argv", "expected"),
    [
        ('{"kind": "load"}\n', [], "not an attempt log (--log) or a receiver recording"),
        ("", [], "empty: no notification to replay"),
        ("not json\n", [], "line 1 is not JSON"),
        ('{"log": "webhook-sim attempt", "notification": "a", "body": "{}", "t_s": 1}\n{oops\n',
         [], ":2: not JSON"),
        ('{"log": "webhook-sim attempt", "notification": "a", "body": "{}", "t_s": 1}\n',
         ["--rate", "5", "--keep-timing"], "--rate and --keep-timing do not go together"),
    ],
)  # fmt: skip
def test_bad_replay_input_is_one_line_and_exit_2(
    content: str, argv: list[str], expected: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    source = tmp_path / "in.jsonl"
    source.write_text(content)
    code = main(["replay", str(source), "--url", "http://127.0.0.1:9/", *argv])
    _, err = capsys.readouterr()
    assert code == 2, err
    assert err.count("\n") == 1
    assert expected in err


async def test_notifications_with_the_same_body_are_replayed_each(
    receiver: tuple[Recorder, str], tmp_path: Path
) -> None:
    """Cycled --process-ids give several notifications one body: the log tells them apart."""
    rec, url = receiver
    rec.failing = lambda _: True
    ids, log = tmp_path / "ids.txt", tmp_path / "a.jsonl"
    ids.write_text("same-1\nsame-2\nsame-3\n")
    code, out, err = await cli("run", "--url", url, "--count", "12", "--flow", "by-client",
                               "--statuses", "3", "--process-ids", str(ids), "--max-attempts",
                               "1", "--workers", "2", "--log", str(log))  # fmt: skip
    assert code == 1, out + err
    rec.take()
    rec.failing = lambda _: False
    code, out, err = await cli("replay", str(log), "--url", url)
    assert code == 0, out + err
    assert len(rec.bodies) == 12
    assert Counter(json.loads(b)["id"] for b in rec.bodies) == {"same-1": 4, "same-2": 4,
                                                                 "same-3": 4}  # fmt: skip


async def test_a_recording_with_what_the_receiver_refused_replays_it_as_it_was(
    receiver_process: Callable[..., str], receiver: tuple[Recorder, str], tmp_path: Path
) -> None:
    rec, url = receiver
    record = tmp_path / "record.jsonl"
    sandbox = receiver_process("--record", str(record))
    for body in (b"hello", b'{"processId": "x"}'):
        request = urllib.request.Request(sandbox, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        with contextlib.suppress(urllib.error.HTTPError):
            await asyncio.to_thread(urllib.request.urlopen, request, timeout=30)
    _, out, err = await cli("replay", str(record), "--url", url, "--max-attempts", "1")
    assert "Traceback" not in err
    assert sorted(rec.bodies) == sorted([b'{"processId": "x"}', b"hello"]), out + err


def test_print_curl_never_writes_a_header_named_like_a_credential(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "a.jsonl"
    log.write_text(json.dumps({"log": "webhook-sim attempt", "notification": "p/3", "n": "1-1",
                               "body": '{"id":"p","status":3}', "t_s": 1.0, "final": "exhausted",
                               "url": "http://127.0.0.1:9/hook"}) + "\n")  # fmt: skip
    code = main(["replay", str(log), "--print-curl", "-H", "X-Api-Token: tok-12345",
                 "-H", "X-Trace: visible"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "tok-12345" not in out
    assert "X-Trace: visible" in out
    assert "add -H 'X-Api-Token: ...' yourself" in out
