"""`webhook-sim report NEW --compare BASE [--tolerance]`: the rules (pure), and the command on
real reports: its table, its exit codes, its one-line errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dispatcher.cli import main
from dispatcher.errors import ConfigError
from dispatcher.report.compare import compare, judge, parse_tolerance
from dispatcher.report.model import RunReport, as_json

Receiver = Callable[..., str]


# The rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fraction"),
    [("10%", 0.1), ("0.1", 0.1), ("0", 0.0), ("0%", 0.0), ("1", 1.0), ("250%", 2.5),
     (" 5% ", 0.05)],
)  # fmt: skip
def test_tolerance_is_a_percentage_or_a_fraction(text: str, fraction: float) -> None:
    assert parse_tolerance(text) == pytest.approx(fraction)


@pytest.mark.parametrize("text", ["10", "1.5", "-1%", "-0.1", "ten", "%", "nan", "inf%", ""])
def test_a_bad_tolerance_names_the_flag_the_value_and_what_is_allowed(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_tolerance(text)
    message = str(caught.value)
    assert message.startswith(f"--tolerance = {text!r}: ")
    assert "percentage (10%)" in message
    assert "fraction from 0 to 1 (0.1)" in message
    assert "\n" not in message


def test_higher_is_worse_beyond_the_tolerance_only() -> None:
    assert not judge("p99", 100.0, 110.0, 0.1, higher_is_worse=True).worse  # at the edge
    assert judge("p99", 100.0, 110.5, 0.1, higher_is_worse=True).worse
    assert not judge("p99", 100.0, 50.0, 0.1, higher_is_worse=True).worse  # better
    row = judge("p99", 100.0, 150.0, 0.1, higher_is_worse=True)
    assert row.change_pct == pytest.approx(50.0)
    assert judge("p99", 100.0, 100.1, 0.0, higher_is_worse=True).worse  # no tolerance


def test_lower_is_worse_beyond_the_tolerance_only() -> None:
    assert not judge("rate", 100.0, 90.0, 0.1, higher_is_worse=False).worse  # at the edge
    assert judge("rate", 100.0, 89.0, 0.1, higher_is_worse=False).worse
    assert not judge("rate", 100.0, 500.0, 0.1, higher_is_worse=False).worse  # better
    assert judge("rate", 100.0, 89.0, 0.1, higher_is_worse=False).change_pct == pytest.approx(-11)


def test_a_zero_baseline() -> None:
    # No percentage of 0; anything above a baseline of none is worse, nothing is below it.
    row = judge("failure rate", 0.0, 0.001, 0.5, higher_is_worse=True)
    assert row.worse
    assert row.change_pct is None
    assert not judge("failure rate", 0.0, 0.0, 0.1, higher_is_worse=True).worse
    assert not judge("rate", 0.0, 0.0, 0.1, higher_is_worse=False).worse
    assert not judge("rate", 0.0, 5.0, 0.1, higher_is_worse=False).worse


@pytest.mark.parametrize(("base", "new"), [(None, 5.0), (5.0, None), (None, None)])
def test_a_missing_value_is_not_compared(base: float | None, new: float | None) -> None:
    for higher in (True, False):
        row = judge("p50", base, new, 0.1, higher_is_worse=higher)
        assert not row.worse
        assert row.change_pct is None


def run_report(p50: float | None, *, attempts: int = 10, delivered: int = 10,
               min_limit: int = 100) -> RunReport:  # fmt: skip
    latency = {"p50": p50, "p90": p50, "p99": p50, "max": p50}
    return RunReport.model_validate({
        "notifications": {"scheduled": 10, "delivered": delivered,
                          "exhausted": 10 - delivered, "cancelled": 0},
        "attempts": {"total": attempts, "max_per_notification": 1, "by_outcome": {}},
        "requests": {"sent": attempts, "resent_after_401": 0, "resent_on_closed_connection": 0},
        "duplicates_sent": 0, "reordered_sent": 0, "unknown_sent": 0,
        "throttle": {"cap": 100, "min_limit": min_limit, "final_limit": 100, "timeline": []},
        "peak_in_flight": 1, "duration_s": 1.0, "settings": {}, "interrupted": None,
        "latency_ms": latency,
    })  # fmt: skip


def test_a_run_report_compares_latency_failures_and_the_throttle() -> None:
    base = run_report(10.0)
    same = compare(base, base, 0.1)
    assert [row.name for row in same.rows] == [
        "latency p50", "latency p90", "latency p99", "failure rate", "throttle min limit",
    ]  # fmt: skip
    assert not same.worse
    worse = compare(run_report(10.0, attempts=20, delivered=8, min_limit=50), base, 0.1)
    by_name = {row.name: row for row in worse.rows}
    # Failure rate: (attempts - delivered) / attempts, as the failure_rate threshold.
    assert by_name["failure rate"].new == pytest.approx(12 / 20)
    assert by_name["failure rate"].base == 0
    assert {row.name for row in worse.worse} == {"failure rate", "throttle min limit"}
    # No attempt, no latency: not compared.
    empty = compare(run_report(None, attempts=0, delivered=0), base, 0.1)
    assert not empty.worse


# The command on real reports ---------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def row_of(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if f" {name} " in line)


@pytest.mark.e2e  # two short load runs
def test_compare_two_load_reports(
    shared_receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = {}
    for name, receiver_args in (("base", ()), ("slow", ("--latency-ms", "60"))):
        url = shared_receiver(*receiver_args)
        reports[name] = tmp_path / f"{name}.json"
        code, out, _ = cli(
            capsys, "load", "--url", url, "--rate", "40", "--duration", "0.5", "--workers", "1",
            "--seed", "3", "--report-json", str(reports[name]),
        )  # fmt: skip
        assert code == 0, out
    base, slow = str(reports["base"]), str(reports["slow"])

    # Every response of the slow run took 60 ms or more: its p50 is worse by far.
    code, out, err = cli(capsys, "report", slow, "--compare", base)
    assert code == 1, out + err
    assert f"{slow} against {base} (tolerance 10%)" in out
    for name in ("rate (deliveries/s)", "response p50", "response p90", "response p99",
                 "failure rate", "throttle min limit"):  # fmt: skip
        assert row_of(out, name)
    assert "WORSE" in row_of(out, "response p50")
    assert "worse than the baseline beyond the tolerance: response p50" in out

    # A report against itself: nothing is worse, whatever the tolerance.
    code, out, _ = cli(capsys, "report", slow, "--compare", slow, "--tolerance", "0")
    assert code == 0, out
    assert "WORSE" not in out
    assert "not worse than the baseline" in out

    # --html and --compare together: the page is written, and the exit code is compare's.
    page = tmp_path / "slow.html"
    code, out, _ = cli(capsys, "report", slow, "--compare", base, "--html", str(page))
    assert code == 1
    text = page.read_text()
    assert text.count("<svg") == 4
    # The page's verdict says what the console says: worse, which metrics, what tolerance.
    verdict = re.search(r'<p class="verdict bad"><b>FAIL</b>.*?</p>', text)
    assert verdict is not None, text[:3000]
    assert "WORSE than the baseline beyond the 10% tolerance: response p50" in verdict[0]
    assert "PASS" not in verdict[0]
    table = re.search(r'<table class="comparison">.*?</table>', text)
    assert table is not None
    assert re.search(r"<td>response p50</td><td>[\d.]+ ms</td><td>[\d.]+ ms</td>"
                     r'<td>\+[\d.]+%</td><td class="bad">WORSE</td>', table[0])  # fmt: skip
    assert table[0].count("<tr>") == 7  # the header and the six metrics the console shows
    # The charts draw the baseline's series too, dashed; without --compare, none.
    for name in ("baseline p50", "baseline p99", "baseline response time"):
        assert f">{name}</text>" in text, name
    alone = tmp_path / "alone.html"
    assert cli(capsys, "report", slow, "--html", str(alone))[0] == 0
    assert "baseline" not in alone.read_text()
    assert points(text, "Response time per second") > points(
        alone.read_text(), "Response time per second"
    )

    # Bad input: one line, exit 2.
    code, _, err = cli(capsys, "report", slow, "--compare", base, "--tolerance", "10")
    assert code == 2
    assert err.count("\n") == 1
    assert "--tolerance = '10'" in err


def points(page: str, title: str) -> int:
    """How many data marks the chart titled `title...` holds."""
    found = re.search(rf'<g class="chart" data-points="(\d+)" data-title="{title}', page)
    assert found is not None, title
    return int(found.group(1))


def write_json(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture
def run_json(tmp_path: Path) -> str:
    return write_json(tmp_path / "run.json", as_json(run_report(10.0)))


@pytest.mark.parametrize(
    ("make_base", "expected"),
    [
        (lambda d: write_json(d / "x.json", {"a": 1}), "not a webhook-sim report"),
        (lambda d: str(d / "missing.json"), "cannot read it"),
        (lambda d: write_json(d / "check.json", {
            "schema_version": 1, "kind": "check", "checks": [], "passed": True,
            "duration_s": 1.0, "settings": {}, "interrupted": None}),
         "'check' report: --compare takes load or run reports"),
    ],
)  # fmt: skip
def test_compare_bad_input_is_one_line_exit_2(
    tmp_path: Path,
    run_json: str,
    capsys: pytest.CaptureFixture[str],
    make_base: Callable[[Path], str],
    expected: str,
) -> None:
    code, out, err = cli(capsys, "report", run_json, "--compare", make_base(tmp_path))
    assert code == 2, out
    assert err.count("\n") == 1, err
    assert expected in err


def test_reports_of_different_kinds_are_refused(
    shared_receiver: Receiver,
    tmp_path: Path,
    run_json: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    load_json = tmp_path / "load.json"
    code, out, _ = cli(
        capsys, "load", "--url", shared_receiver(), "--rate", "20", "--duration", "0.2",
        "--workers", "1", "--report-json", str(load_json),
    )  # fmt: skip
    assert code == 0, out
    code, _, err = cli(capsys, "report", str(load_json), "--compare", run_json)
    assert code == 2
    assert err.count("\n") == 1, err
    assert "a 'load' report cannot be compared with a 'run' one" in err


def test_report_needs_html_or_compare(run_json: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "report", run_json)
    assert code == 2
    assert (
        err
        == "webhook-sim: error: report: nothing to do: give --html OUT, --compare BASE, or both\n"
    )


def test_run_reports_compare(
    tmp_path: Path, run_json: str, capsys: pytest.CaptureFixture[str]
) -> None:
    slower = write_json(tmp_path / "slower.json", as_json(run_report(30.0)))
    code, out, _ = cli(capsys, "report", slower, "--compare", run_json, "--tolerance", "50%")
    assert code == 1
    assert "WORSE" in row_of(out, "latency p99")
    assert "+200.0%" in row_of(out, "latency p50")


def test_a_run_report_renders_and_compares_as_html(
    tmp_path: Path, run_json: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `report --help`: SOURCE "saved by load (or run)": a run report renders too.
    page = tmp_path / "run.html"
    code, out, err = cli(capsys, "report", run_json, "--html", str(page))
    assert code == 0, out + err
    text = page.read_text()
    assert "<h1>webhook-sim run report</h1>" in text
    assert "10 of 10 notifications delivered" in text
    # And against a baseline: its latency, failures and throttle, judged on the page too.
    slower = write_json(tmp_path / "slower.json", as_json(run_report(30.0)))
    code, out, _ = cli(capsys, "report", slower, "--html", str(page), "--compare", run_json)
    assert code == 1, out
    text = page.read_text()
    assert ("WORSE than the baseline beyond the 10% tolerance: latency p50, latency p90, "
            "latency p99") in text  # fmt: skip
    assert "<td>latency p99</td><td>10.0 ms</td><td>30.0 ms</td><td>+200.0%</td>" in text
    code, out, _ = cli(capsys, "report", run_json, "--html", str(page), "--compare", run_json)
    assert code == 0, out
    assert "within 10% of the baseline" in page.read_text()


def test_html_of_a_check_report_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check = write_json(tmp_path / "check.json", {
        "schema_version": 1, "kind": "check", "checks": [], "passed": True, "duration_s": 1.0,
        "settings": {}, "interrupted": None})  # fmt: skip
    code, _, err = cli(capsys, "report", check, "--html", str(tmp_path / "x.html"))
    assert code == 2
    assert (
        err == f"webhook-sim: error: {check}: a 'check' report: --html takes load or run reports\n"
    )
    assert not (tmp_path / "x.html").exists()
