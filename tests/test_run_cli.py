"""`webhook-sim run` as a user runs it: flags, report file, exit codes, Ctrl-C on a real process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dispatcher.cli import main

Receiver = Callable[..., str]


def check_invariant(report: dict) -> None:  # type: ignore[type-arg]
    n = report["notifications"]
    assert n["delivered"] + n["exhausted"] + n["cancelled"] == n["scheduled"]
    assert report["attempts"]["max_per_notification"] <= report["settings"]["max_attempts"]


def test_run_writes_the_report_and_exits_0(
    shared_receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = shared_receiver("--auth", "api-key", "--api-key", "X-Key:Sekr3t-Key")
    out_file = tmp_path / "report.json"
    code = main(
        [
            "run", "--url", url, "--api-key", "X-Key:Sekr3t-Key", "--count", "300",
            "--flow", "by-client", "--duplicates", "0.1", "--reorder", "0.5",
            "--unknown-status", "0.05", "--concurrency", "20", "--seed", "4",
            "--report-json", str(out_file),
        ]
    )  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0
    report = json.loads(out_file.read_text())
    check_invariant(report)
    n = report["notifications"]
    assert n["delivered"] == n["scheduled"] > 300
    for key in ("duplicates_sent", "reordered_sent", "unknown_sent"):
        assert report[key] > 0
    for key in ("p50", "p90", "p99", "max"):
        assert report["latency_ms"][key] > 0
    assert report["throttle"]["cap"] == 20
    assert report["peak_in_flight"] <= 20
    assert report["settings"]["auth"]["api_key"] == "X-Key:***"
    assert "Sekr3t" not in out_file.read_text()
    assert "Sekr3t" not in out
    assert "summary" in out


def test_run_exits_1_when_something_is_not_delivered(
    shared_receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = shared_receiver("--status", "500")
    out_file = tmp_path / "r.json"
    code = main(
        ["run", "--url", url, "--count", "10", "--max-attempts", "2", "--interval", "0.01",
         "--report-json", str(out_file)]
    )  # fmt: skip
    assert code == 1
    report = json.loads(out_file.read_text())
    check_invariant(report)
    assert report["notifications"]["exhausted"] == 10
    assert report["attempts"]["by_outcome"] == {"500": 20}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--concurrency", "501"], "--concurrency = 501"),
        (["--duplicates", "1.5"], "--duplicates = 1.5"),
        (["--count", "0"], "--count = 0"),
        (["--max-rate", "-1"], "--max-rate = -1.0"),
        (["--statuses", "1,3", "--flow", "by-client"], "'1' is not a notified by-client status"),
        (["--throttle-threshold", "2"], "--throttle-threshold = 2.0"),
        (["--junit", "/tmp/j.xml"], "--junit goes with a scenario file"),
    ],
)
def test_run_bad_input(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    code = main(["run", "--url", "http://127.0.0.1:9/", *argv])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1
    assert expected in err


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_writes_the_report_and_loses_nothing(
    shared_receiver: Receiver, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    url = shared_receiver("--latency-ms", "200")
    out_file = tmp_path / "r.json"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "dispatcher.cli", "run", "--url", url, "--count", "1000000",
            "--concurrency", "50", "--grace", "0.5", "--report-json", str(out_file),
            "--progress-every", "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    # Wait for the run to be under way: its first progress line shows deliveries.
    deadline = time.monotonic() + 30
    for line in proc.stdout:
        if "delivered=" in line and "delivered=0 " not in line:
            break
        assert time.monotonic() < deadline, "the run never got going"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    report = json.loads(out_file.read_text())
    check_invariant(report)
    assert report["interrupted"] == sig.name
    assert report["notifications"]["scheduled"] < 1_000_000
    assert report["notifications"]["delivered"] > 0
    assert "Traceback" not in err


def test_switches_reach_the_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "r.json"
    code = main(
        ["run", "--url", "http://127.0.0.1:9/", "--count", "1", "--max-attempts", "1",
         "--no-adaptive", "--max-rate", "50", "--report-json", str(out_file)]
    )  # fmt: skip
    capsys.readouterr()
    assert code == 1
    settings = json.loads(out_file.read_text())["settings"]
    assert settings["throttle"]["enabled"] is False
    assert settings["max_rate"] == 50
    assert settings["insecure"] is False
