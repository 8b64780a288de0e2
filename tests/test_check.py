"""`webhook-sim check` against the sandbox: green when well-behaved, one red check per flaw."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, Skipped

from dispatcher.checks.suite import names
from dispatcher.cli import main

Receiver = Callable[..., str]
CREDS = ("--auth", "basic", "--basic", "integrator:Chk-S3cret")
# Sizes for tests about verdicts, not about volume: the same rules, a fraction of the sends.
SMALL = ("--batch", "10", "--burst", "20")
ALL_CHECKS = {
    "accepts-notified-statuses",
    "answers-within-timeout",
    "rejects-bad-credentials",
    "idempotent-duplicates",
    "tolerates-unknown-status",
    "tolerates-extra-field",
    "burst-500",
    "no-regression",
    "fallback-polling",
}


def run_check(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path, *extra: str
) -> tuple[int, str, dict[str, str]]:
    junit = tmp_path / "check.xml"
    code = main(
        ["check", "--url", url + "/hook", "--basic", "integrator:Chk-S3cret", "--flow",
         "by-client", "--junit", str(junit), "--seed", "1", *extra]
    )  # fmt: skip
    out, _ = capsys.readouterr()
    xml = JUnitXml.fromfile(str(junit))
    statuses = {}
    for suite in xml:
        for case in suite:
            kinds = {type(r) for r in case.result}
            statuses[case.name] = (
                "failed" if Failure in kinds else "skipped" if Skipped in kinds else "passed"
            )
    return code, out, statuses


def test_well_behaved_receiver_passes_every_check(
    shared_receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The one run of the whole suite at its real sizes (--batch 100, --burst 500): the other
    tests here ask for small ones, which prove the same verdicts."""
    url = shared_receiver(*CREDS)
    report = tmp_path / "check.json"
    code, out, statuses = run_check(
        capsys, url, tmp_path, "--verify-url", url + "/processes/{id}", "--report-json", str(report)
    )
    assert code == 0, out
    assert statuses == {**dict.fromkeys(ALL_CHECKS, "passed"), "fallback-polling": "skipped"}
    data = json.loads(report.read_text())
    assert data["passed"] is True
    assert data["settings"]["auth"]["basic"] == "***"
    assert "Chk-S3cret" not in report.read_text() + out + (tmp_path / "check.xml").read_text()
    assert "8 passed, 0 failed, 1 skipped" in out


@pytest.mark.parametrize(
    ("flaw", "broken"),
    [
        ("any-credentials", "rejects-bad-credentials"),
        ("duplicate-409", "idempotent-duplicates"),
        ("duplicate-500", "idempotent-duplicates"),
        ("unknown-500", "tolerates-unknown-status"),
        ("extra-field-500", "tolerates-extra-field"),
        ("regress", "no-regression"),
    ],
)
def test_each_flaw_fails_exactly_its_check(
    shared_receiver: Receiver,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flaw: str,
    broken: str,
) -> None:
    url = shared_receiver(*CREDS, "--flaw", flaw)
    code, out, statuses = run_check(
        capsys, url, tmp_path, "--verify-url", url + "/processes/{id}", *SMALL
    )
    assert code == 1
    assert {name for name, s in statuses.items() if s == "failed"} == {broken}, out
    assert f"FAIL {broken}" in out


def test_slow_receiver_fails_only_the_timeout_check(
    shared_receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every answer takes at least 50 ms, twice the timeout, however idle or busy the machine:
    # the verdict cannot depend on its load (the other checks wait a lenient 30 s).
    url = shared_receiver(*CREDS, "--flaw", "slow", "--slow-ms", "50")
    code, out, statuses = run_check(capsys, url, tmp_path, "--timeout", "0.025", *SMALL)
    assert code == 1
    assert {name for name, s in statuses.items() if s == "failed"} == {"answers-within-timeout"}
    assert statuses["no-regression"] == "skipped"
    assert "timed out" in out


def test_by_unico_with_no_auth_skips_what_does_not_apply(
    shared_receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = shared_receiver()
    junit = tmp_path / "j.xml"
    code = main(["check", "--url", url, "--junit", str(junit), *SMALL])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "SKIP rejects-bad-credentials" in out
    assert "SKIP no-regression" in out
    xml = JUnitXml.fromfile(str(junit))
    assert sum(1 for suite in xml for _ in suite) == len(ALL_CHECKS)


def test_list_and_only(shared_receiver: Receiver, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--list"]) == 0
    out, _ = capsys.readouterr()
    listed = [line.split()[0] for line in out.strip().splitlines()]
    assert listed == names()  # the suite's checks, then the opt-in ones
    url = shared_receiver()
    code = main(["check", "--url", url, "--only", "idempotent-duplicates", "--only", "burst-500",
                 *SMALL])  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0
    assert "2 passed, 0 failed, 0 skipped" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--only", "nope"], "--only = 'nope': no such check (allowed: accepts-notified"),
        (["--burst", "501"], "--burst = 501"),
        (["--verify-url", "http://127.0.0.1:9/x"], "must contain {id}"),
    ],
)
def test_check_bad_input(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code = main(["check", "--url", "http://127.0.0.1:9/", *argv])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1
    assert expected in err


def _in_flight(url: str) -> int:
    with urllib.request.urlopen(url + "/_stats", timeout=60) as resp:  # loopback only
        return int(json.load(resp)["in_flight"])


def test_ctrl_c_still_writes_the_reports(receiver_process: Receiver, tmp_path: Path) -> None:
    # Every answer is held for a minute: the run is inside its first check when Ctrl-C comes.
    # Killed afterwards: SIGTERM would give the held requests the receiver's shutdown grace.
    url = receiver_process("--flaw", "slow", "--slow-ms", "60000", kill=True)
    junit, report = tmp_path / "c.xml", tmp_path / "c.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatcher.cli", "check", "--url", url, "--junit", str(junit),
         "--report-json", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("checking ")
    deadline = time.monotonic() + 60  # a safety net, never a measurement
    while _in_flight(url) == 0:  # the first check's first send has reached the receiver
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the check never sent anything"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    data = json.loads(report.read_text())
    assert data["interrupted"] == "SIGINT"
    assert len(data["checks"]) == len(ALL_CHECKS)
    assert {c["status"] for c in data["checks"]} == {"skipped"}
    assert "interrupted by SIGINT" in out
    cases = [case for suite in JUnitXml.fromfile(str(junit)) for case in suite]
    assert len(cases) == len(ALL_CHECKS)
