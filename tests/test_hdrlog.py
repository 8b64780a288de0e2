"""`--hdr-log PATH` on load and run: HdrHistogram's interval log, read back by hdrh's reader."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from dispatcher.cli import main
from dispatcher.hdrlog import interval_log
from dispatcher.metrics import Metrics, new_histogram, record_seconds

Receiver = Callable[..., str]


def read_log(path: Path) -> list[tuple[str | None, float, HdrHistogram]]:
    """(tag, start timestamp relative to the log's start, histogram) of every interval."""
    reader = HistogramLogReader(str(path), new_histogram())
    intervals = []
    try:
        while (histogram := reader.get_next_interval_histogram()) is not None:
            start_s = histogram.get_start_time_stamp() / 1000 - reader.get_start_time_sec()
            intervals.append((histogram.get_tag(), round(start_s, 3), histogram))
    finally:
        reader.close()
    return intervals


def test_the_log_holds_each_second_and_the_whole_run(tmp_path: Path) -> None:
    m = Metrics(cap=10)
    for t, values in ((0, [0.001, 0.002]), (1, []), (2, [0.5])):
        second = m.second(t)
        assert second.t == t
        for value in values:
            record_seconds(m.response, value)
            record_seconds(m.latency, value / 2)
            record_seconds(m.this_second, value)
    m.close_second()
    m.duration_s = 2.25
    path = tmp_path / "log.hdr"
    path.write_text(interval_log(m, start_unix_s=1_800_000_000.0))
    text = path.read_text()
    assert "#[StartTime: 1800000000.000 (seconds since epoch), 2027-01-15T08:00:00.000+00:00]" in (
        text
    )
    assert '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"' in (
        text
    )
    intervals = read_log(path)
    assert [(tag, start) for tag, start, _ in intervals] == [
        ("run-response", 0.0), ("run-service", 0.0),
        ("response", 0.0), ("response", 1.0), ("response", 2.0),
    ]  # fmt: skip
    counts = [h.get_total_count() for _, _, h in intervals]
    assert counts == [3, 3, 2, 0, 1]
    # Interval_Max in milliseconds, as HdrHistogram's own writer puts it.
    lines = [line for line in text.splitlines() if line.startswith("Tag=")]
    assert lines[0].split(",")[1:4] == [
        "0.000",
        "2.250",
        f"{m.response.get_max_value() / 1000:.3f}",
    ]
    assert lines[-1].split(",")[1:3] == ["2.000", "0.250"]  # the last second, cut at the end


def load(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_load_writes_a_log_hdrh_reads(
    shared_receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    url = shared_receiver("--latency-ms", "2")
    report_file, log_file = tmp_path / "load.json", tmp_path / "load.hdr"
    code, out, _ = load(
        capsys, "load", "--url", url, "--rate", "100", "--duration", "1.2", "--workers", workers,
        "--report-json", str(report_file), "--hdr-log", str(log_file),
    )  # fmt: skip
    assert code == 0, out
    report = json.loads(report_file.read_text())
    intervals = read_log(log_file)
    seconds = [h for tag, _, h in intervals if tag == "response"]
    assert len(seconds) == len(report["timeline"])
    # Every answered attempt's response time, once: the seconds add up to the run.
    answered = sum(n for k, n in report["attempts"]["by_outcome"].items() if k.isdigit())
    assert answered == report["attempts"]["total"] > 0
    assert sum(h.get_total_count() for h in seconds) == answered
    whole = {tag: h for tag, _, h in intervals if tag in ("run-response", "run-service")}
    assert whole["run-response"].get_total_count() == answered
    # The max matches the report's, the seconds' and the whole run's.
    response_max_us = max(h.get_max_value() for h in seconds)
    assert response_max_us / 1000 == report["latency_ms"]["response"]["max"]
    assert whole["run-response"].get_max_value() == response_max_us
    assert whole["run-service"].get_max_value() / 1000 == report["latency_ms"]["service"]["max"]
    # Each second's p99, as the report's timeline has it.
    for second, histogram in zip(report["timeline"], seconds, strict=True):
        if second["p99_ms"] is not None:
            assert histogram.get_value_at_percentile(99.0) / 1000 == second["p99_ms"]


def test_a_run_writes_one_too(
    shared_receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "run.hdr"
    code, out, _ = load(
        capsys, "run", "--url", shared_receiver(), "--count", "20", "--workers", "1",
        "--hdr-log", str(log_file),
    )  # fmt: skip
    assert code == 0, out
    intervals = read_log(log_file)
    assert sum(h.get_total_count() for tag, _, h in intervals if tag == "response") == 20


@pytest.mark.parametrize("command", ["load", "run"])
@pytest.mark.parametrize(
    ("where", "expected"),
    [("dir", "is a directory, not a file"), ("-", "stdout carries the console")],
)
def test_a_bad_path_is_one_line_before_anything_is_sent(
    shared_receiver: Receiver,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    where: str,
    expected: str,
) -> None:
    url = shared_receiver()
    path = str(tmp_path) if where == "dir" else where
    what = ["--rate", "50", "--duration", "0.2"] if command == "load" else ["--count", "5"]
    code, out, err = load(capsys, command, "--url", url, *what, "--hdr-log", path)
    assert code == 2, out
    assert err.count("\n") == 1, err
    assert f"--hdr-log = '{path}': {expected}" in err
    with urllib.request.urlopen(url + "/_stats") as resp:  # loopback only
        assert json.load(resp)["received"] == 0
