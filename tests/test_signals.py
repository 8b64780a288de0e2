"""Ctrl-C at any instant, on real processes: the report is always written and marked, the exit
code is 130/143, no traceback, no orphan worker.

Every instant is reached by watching the process (its signal mask in /proc, its output, its
children), never by sleeping: the suite must hold on a busy machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # every test here signals a real webhook-sim process

Receiver = Callable[..., str]
SAFETY_S = 60.0  # how long a step may take before the test gives up: never a measurement


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SAFETY_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.01)


def _catches_sigterm(pid: int) -> bool:
    """Python catches SIGINT from birth; SIGTERM only once webhook-sim's handlers are in."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = re.search(r"^SigCgt:\s*([0-9a-f]+)", status, re.M)
    return caught is not None and bool(int(caught.group(1), 16) & (1 << (signal.SIGTERM - 1)))


def _children(pid: int) -> list[int]:
    """The load workers of `pid` (not multiprocessing's resource tracker)."""
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            kids += [int(k) for k in (task / "children").read_text().split()]
    workers = []
    for kid in kids:
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{kid}/cmdline").read_bytes():
                workers.append(kid)
    return workers


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []

    def start(*argv: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dispatcher", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _finish(proc: subprocess.Popen[str], code: int) -> tuple[str, str]:
    out, err = proc.communicate(timeout=SAFETY_S)
    assert proc.returncode == code, out + err
    assert "Traceback" not in out + err, err
    return out, err


def _report(path: Path, signal_name: str) -> dict[str, object]:
    report = json.loads(path.read_text())
    assert report["interrupted"] == signal_name
    n = report["notifications"]
    assert isinstance(n, dict)
    assert n["delivered"] + n["exhausted"] + n["cancelled"] == n["scheduled"]
    assert not list(path.parent.glob("*.tmp")), "a temporary file was left behind"
    return report


def _run_args(url: str, out_file: Path) -> list[str]:
    return ["run", "--url", url, "--count", "100000", "--concurrency", "20",
            "--progress-every", "0.05", "--report-json", str(out_file)]  # fmt: skip


@pytest.mark.parametrize("instant", ["start-up", "running"])
@pytest.mark.parametrize(
    "signals",
    [
        [signal.SIGINT],
        [signal.SIGINT, signal.SIGINT],  # 0-40 ms apart lost the report in ~30% of tries
        [signal.SIGINT] * 12,  # Ctrl-C held down (auto-repeat)
        [signal.SIGTERM] * 8,
    ],
    ids=["once", "twice", "held-down", "sigterm-x8"],
)
def test_run_always_reports(
    shared_receiver: Receiver,
    spawn: Callable[..., subprocess.Popen[str]],
    tmp_path: Path,
    instant: str,
    signals: list[signal.Signals],
) -> None:
    url = shared_receiver("--latency-ms", "20")
    out_file = tmp_path / "r.json"
    proc = spawn(*_run_args(url, out_file))
    _until(lambda: _catches_sigterm(proc.pid), "handlers installed")
    if instant == "running":
        assert proc.stdout is not None
        _until(lambda: "delivered=" in (proc.stdout.readline() if proc.stdout else ""), "progress")
    for sig in signals:
        proc.send_signal(sig)
    _finish(proc, 128 + int(signals[0]))
    _report(out_file, signals[0].name)


def test_check_held_down_still_writes_junit_and_json(
    shared_receiver: Receiver, spawn: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    url = shared_receiver("--latency-ms", "5")
    junit, out_file = tmp_path / "c.xml", tmp_path / "c.json"
    proc = spawn("check", "--url", url, "--junit", str(junit), "--report-json", str(out_file))
    assert proc.stdout is not None
    _until(lambda: (proc.stdout.readline() if proc.stdout else "").startswith("checking"), "start")
    for _ in range(12):
        proc.send_signal(signal.SIGINT)
    _finish(proc, 130)
    assert "interrupted by SIGINT" in junit.read_text()
    assert json.loads(out_file.read_text())["interrupted"] == "SIGINT"
    assert not list(tmp_path.glob("*.tmp"))


def _load(
    spawn: Callable[..., subprocess.Popen[str]], url: str, out_file: Path
) -> subprocess.Popen[str]:
    return spawn("load", "--url", url, "--rate", "200", "--duration", "60s", "--workers", "2",
                 "--report-json", str(out_file))  # fmt: skip


@pytest.mark.parametrize("instant", ["start-up", "workers-spawned", "workers-running"])
def test_load_workers_never_miss_a_stop(
    shared_receiver: Receiver,
    spawn: Callable[..., subprocess.Popen[str]],
    tmp_path: Path,
    instant: str,
) -> None:
    url = shared_receiver()
    out_file = tmp_path / "r.json"
    proc = _load(spawn, url, out_file)
    _until(lambda: _catches_sigterm(proc.pid), "handlers installed")
    if instant != "start-up":
        # Spawned: the workers may still be importing, with no handler of their own yet.
        _until(lambda: len(_children(proc.pid)) >= 2, "two workers")
    if instant == "workers-running":
        _until(lambda: all(_catches_sigterm(k) for k in _children(proc.pid)), "workers ready")
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGINT)
    _finish(proc, 130)
    report = _report(out_file, "SIGINT")
    assert "workers_failed" not in report
    _until(lambda: not any(_alive(w) for w in workers), "workers gone")


def test_load_workers_die_with_a_killed_parent(
    shared_receiver: Receiver, spawn: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    url = shared_receiver()
    proc = _load(spawn, url, tmp_path / "r.json")
    _until(lambda: len(_children(proc.pid)) >= 2, "two workers")
    workers = _children(proc.pid)
    _until(lambda: all(_catches_sigterm(k) for k in workers), "workers ready")
    proc.kill()  # SIGKILL, as the OOM killer or a CI time-out sends
    proc.wait()
    _until(lambda: not any(_alive(w) for w in workers), "workers gone")


def test_a_dead_worker_is_named_and_the_others_reported(
    shared_receiver: Receiver, spawn: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    url = shared_receiver()
    out_file = tmp_path / "r.json"
    proc = _load(spawn, url, out_file)
    _until(lambda: len(_children(proc.pid)) >= 2, "two workers")
    workers = sorted(_children(proc.pid))
    _until(lambda: all(_catches_sigterm(k) for k in workers), "workers ready")
    os.kill(workers[-1], signal.SIGKILL)
    _until(lambda: not _alive(workers[-1]), "one worker gone")
    proc.send_signal(signal.SIGINT)
    _, err = _finish(proc, 130)
    report = _report(out_file, "SIGINT")
    failed = report["workers_failed"]
    assert isinstance(failed, list)
    assert len(failed) == 1
    assert re.fullmatch(r"worker [01] died \(killed by SIGKILL\): its \d+ processes are in no "
                        r"count of the report", failed[0]), failed  # fmt: skip
    assert failed[0] in err


def test_platform_second_signal_during_shutdown_still_reports(
    spawn: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    out_file = tmp_path / "p.json"
    proc = spawn("platform", "--webhook-url", "http://127.0.0.1:9/hook", "--port", "0",
                 "--report-json", str(out_file))  # fmt: skip
    assert proc.stdout is not None
    _until(lambda: "listening" in (proc.stdout.readline() if proc.stdout else ""), "listening")
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _finish(proc, 130)
    assert json.loads(out_file.read_text())["interrupted"] == "SIGINT"


@pytest.mark.parametrize("command", ["send", "receiver", "demo"])
def test_every_other_command_stops_cleanly(
    receiver_process: Receiver,
    spawn: Callable[..., subprocess.Popen[str]],
    command: str,
) -> None:
    if command == "send":
        # Held for a minute: `send` is waiting on it when stopped. Killed after the test, as
        # SIGTERM would give the abandoned request the receiver's 5 s shutdown grace.
        argv = ["send", "--url", receiver_process("--latency-ms", "60000", kill=True)]
    else:
        argv = {"receiver": ["receiver", "--port", "0"], "demo": ["demo"]}[command]
    proc = spawn(*argv)
    _until(lambda: _catches_sigterm(proc.pid), "handlers installed")
    proc.send_signal(signal.SIGINT)
    if command == "send":
        # Two signals sent at once may reach the process as one (the kernel merges a pending
        # one): the second goes once the first is taken, and must cut the 2 s grace short.
        _until(lambda: "stopping" in (proc.stderr.readline() if proc.stderr else ""), "taken")
    proc.send_signal(signal.SIGINT)
    _finish(proc, 130)


def test_a_stop_does_not_wait_for_the_pacer(
    shared_receiver: Receiver, spawn: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    """At --max-rate 0.05 the second start is 20 s away: a Ctrl-C must not wait for it, and
    nothing may be sent after it."""
    url = shared_receiver()
    out_file = tmp_path / "r.json"
    proc = spawn("run", "--url", url, "--count", "5", "--max-rate", "0.05", "--workers", "1",
                 "--progress-every", "0.1", "--report-json", str(out_file))  # fmt: skip
    assert proc.stdout is not None
    _until(lambda: "delivered=1 " in (proc.stdout.readline() if proc.stdout else ""), "one sent")
    proc.send_signal(signal.SIGINT)
    _finish(proc, 130)
    n = _report(out_file, "SIGINT")["notifications"]
    assert n == {"scheduled": 2, "delivered": 1, "exhausted": 0, "cancelled": 1}


def test_signals_all_the_way_to_exit_never_kill_the_process(
    shared_receiver: Receiver, spawn: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    """SIGINT every few milliseconds from start-up until the process is gone: the first one
    stops the run, the rest are ignored through the report and the interpreter's exit."""
    url = shared_receiver()
    out_file = tmp_path / "r.json"
    proc = spawn(*_run_args(url, out_file))
    _until(lambda: _catches_sigterm(proc.pid), "handlers installed")
    while proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        time.sleep(0.002)
    _finish(proc, 130)
    _report(out_file, "SIGINT")


async def test_a_second_signal_in_the_same_turn_still_cuts_the_grace_short() -> None:
    import asyncio

    from dispatcher.signals import StopSignals, until_signalled

    graced = asyncio.Event()

    async def serve() -> str:
        try:
            await asyncio.Event().wait()  # serving until a stop
        except asyncio.CancelledError:
            graced.set()
            await asyncio.Event().wait()  # the grace period: only a second stop ends it
        return "never"

    signals = StopSignals()
    signals.handle(signal.SIGINT, None)
    signals.handle(signal.SIGTERM, None)  # both are handed over in the same turn of the loop
    async with asyncio.timeout(SAFETY_S):  # a safety net, never a measurement
        assert await until_signalled(serve(), signals=signals) is None
    assert graced.is_set()
