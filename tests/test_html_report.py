"""The HTML load report: what the page holds (fast, from a report built out of real metrics),
and how a real browser draws it (headless Chromium, from a real `load` run): no console error,
no request, every chart's data points drawn, and a screenshot.

`WEBHOOK_SIM_SCREENSHOT=docs/report-screenshot.png pytest tests/test_html_report.py` also
saves the browser test's screenshot where the README shows it.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from dispatcher.cli import main
from dispatcher.html import render
from dispatcher.load import LoadPlan
from dispatcher.metrics import Metrics, ThrottlePoint, record_seconds
from dispatcher.report import load_report, read_load_report, run_report
from dispatcher.report.compare import compare
from dispatcher.report.model import LoadReport, RunReport, Shards, as_json
from dispatcher.samples import KINDS, Sample, SlowAttempt
from dispatcher.settings import Settings, TrafficSettings

CHARTS = [
    "Arrivals vs deliveries",
    "Attempt outcomes by kind (stacked)",
    "Response time per second (from the intended start)",
    "Latency by percentile: service vs response time",
    "In flight per second against the in-flight limit",
    "Throttle decisions: failed share of each window",
]
TABLES = ("Outcomes", "Slowest attempts", "Summary", "Settings used")
SETTINGS = Settings.model_validate(
    {"url": "http://127.0.0.1:9/hook", "auth": {"type": "basic", "basic": "u:hunter2"}}
)
EMBEDDED = re.compile(r'<script type="application/json" id="report">(.*?)</script>', re.S)


def metrics() -> Metrics:
    """Two and a half seconds of a run, as the engine's recorder would have written them."""
    m = Metrics(cap=10)
    m.scheduled = m.delivered = 25
    m.attempts_total = m.requests_total = 27
    m.by_outcome.update({"200": 25, "503": 1, "timeout": 1})
    seconds = [(10, 9, 1, "5xx", 4), (10, 10, 1, "timeout", 7), (5, 6, 0, "5xx", 2)]
    for t, (arrivals, ok, failed, kind, peak) in enumerate(seconds):
        second = m.second(t)
        second.arrivals, second.deliveries = arrivals, ok
        second.attempts, second.failures = ok + failed, failed
        second.kinds[KINDS.index("2xx")] = ok
        second.kinds[KINDS.index(kind)] = failed
        second.peak_in_flight = peak
        for ms in range(1, ok + 1):
            record_seconds(m.latency, ms / 1000)
            record_seconds(m.response, 2 * ms / 1000)
            record_seconds(m.this_second, 2 * ms / 1000)
            m.slowest.offer(SlowAttempt(2 * ms / 1000, ms / 1000, f"p-{t}-{ms}", "3", 1, "200",
                                        t + 0.5, "delivered"))  # fmt: skip
    m.close_second()
    m.samples = {
        "200": Sample("200", 200, "", "p-0-1", "3", 1, 0.01),
        "503": Sample("503", 503, '<b>busy</b> "retry" & wait', "p-0-9", "3", 1, 0.2),
        "timeout": Sample("timeout", None, "no answer within 10 s", "p-1-3", "3", 2, 1.5),
    }
    m.timeline += [ThrottlePoint(1.0, 5, 0.1, 20), ThrottlePoint(2.0, 6, 0.0, 21)]
    m.min_limit = 5
    m.duration_s, m.arrival_window_s = 2.5, 2.5
    return m


def report() -> LoadReport:
    plan = LoadPlan(None, 2.5, TrafficSettings(count=25, seed=7))
    return load_report(metrics(), SETTINGS, plan, interrupted=None)


def charts(page: str) -> dict[str, dict[str, str]]:
    """Each chart's data-* attributes, by its title."""
    found = {}
    for tag in re.findall(r'<g class="chart"[^>]*>', page):
        attrs = dict(re.findall(r'(data-[\w-]+)="([^"]*)"', tag))
        found[html.unescape(attrs["data-title"])] = attrs
    return found


def test_the_page_holds_every_chart_and_table() -> None:
    r = report()
    page = render(r)
    assert page.count("<svg") == 4  # four figures: the time charts share their axes
    found = charts(page)
    assert list(found) == CHARTS
    assert all(int(attrs["data-points"]) > 0 for attrs in found.values()), found
    for heading in TABLES:
        assert f"<h2>{heading}</h2>" in page
    assert ("<h2>Thresholds</h2>" in page) == bool(r.thresholds)
    for outcome in ("200", "503", "timeout"):
        assert f"<td>{outcome}</td>" in page
    # Each outcome's first answer, escaped: a receiver's words are never markup.
    assert "<td>&lt;b&gt;busy&lt;/b&gt; &quot;retry&quot; &amp; wait</td>" in page
    assert "<td>no answer within 10 s</td>" in page
    assert "<b>busy" not in page  # not in the embedded JSON either
    assert "<td>p-1-3 (3), attempt 2, at 1.5 s</td>" in page
    slowest = re.search(r'<table class="slowest">.*?</table>', page, re.S)
    assert slowest is not None
    rows = re.findall(r"<tr><td>([\d.]+) ms</td>", slowest.group(0))
    # By service time, the first column (each response time is twice it here).
    assert [float(v) for v in rows] == [10.0, 9.0, 9.0, 8.0, 8.0, 7.0, 7.0, 6.0, 6.0, 6.0]
    assert "<td>***</td>" in page  # the Basic credentials, as the settings hold them
    assert "hunter2" not in page
    # Offline: nothing may be fetched, and the page says so to the browser.
    assert "default-src 'none'" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    embedded = EMBEDDED.search(page)
    assert embedded is not None
    assert json.loads(embedded.group(1)) == as_json(r)


def test_the_report_has_what_the_charts_need() -> None:
    r = report()
    assert [s.p50_ms is not None for s in r.timeline] == [True, True, True]
    last = r.timeline[-1]
    assert last.max_ms == pytest.approx(12, rel=0.01)  # 2 * 6 ms, the slowest of that second
    spectrum = r.latency_ms.spectrum
    assert spectrum is not None
    assert [p.percentile for p in spectrum[:4]] == [0, 50, 75, 87.5]
    assert spectrum[-1].percentile == 100
    assert spectrum[-1].response_ms == r.latency_ms.response.max
    assert r.tool_version
    assert r.generated_at


def test_a_partial_last_second_is_drawn_at_its_rate() -> None:
    page = render(report())  # the last second: 5 arrivals in its first half
    assert "partial second (0.50 s)" in page
    assert "arrivals: 5 in the last 0.50 s = 10.0/s" in page


def test_a_report_written_before_the_new_fields_still_renders(tmp_path: Path) -> None:
    data = as_json(report())
    del data["tool_version"], data["generated_at"], data["latency_ms"]["spectrum"]
    del data["samples"], data["slowest"]
    for second in data["timeline"]:
        del second["p50_ms"], second["p90_ms"], second["max_ms"]
        del second["outcomes"], second["peak_in_flight"]
    path = tmp_path / "old.txt"  # not .json: the schema fixture checks .json files
    path.write_text(json.dumps(data))
    page = render(read_load_report(path))
    found = charts(page)
    assert list(found) == CHARTS
    assert all(int(attrs["data-points"]) > 0 for attrs in found.values()), found
    assert "answered 2xx" in page  # outcomes as they were: 2xx against failed
    assert "in flight second by second is not recorded" in page
    assert "<h2>Slowest attempts</h2>" not in page


def panel(page: str, title: str) -> str:
    """One chart's markup, by its title."""
    start = page.index(f'data-title="{title}"')
    return page[start : page.index("</g>", start)]


def legend(markup: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'<text x="788" y="[\d.]+">([^<]*)</text>',
                                                 markup)]  # fmt: skip


def test_outcomes_are_stacked_by_kind_second_by_second() -> None:
    chart = panel(render(report()), "Attempt outcomes by kind (stacked)")
    assert legend(chart)[:3] == ["2xx", "5xx", "timeout"]
    # A bar per kind that occurred in each second: 2xx and 5xx, 2xx and timeout, 2xx.
    assert chart.count('<rect class="series"') == 5
    assert "1 s: 2xx 10, timeout 1" in chart


def test_in_flight_is_drawn_second_by_second_against_the_limit() -> None:
    chart = panel(render(report()), "In flight per second against the in-flight limit")
    assert "peak in flight" in legend(chart)
    assert "in-flight limit" in legend(chart)
    # Each second's column tells its peak (the tooltip over every chart of the figure).
    assert "in-flight limit 10, peak in flight 4" in chart
    assert "in-flight limit 10, peak in flight 7" in chart
    steps = re.search(r'<polyline class="series" points="([^"]*)"[^>]*><title>peak in flight',
                      chart)  # fmt: skip
    assert steps is not None
    assert len(steps.group(1).split()) == 4  # each second's peak, held to the end


def test_a_baseline_is_drawn_dashed_beside_the_report() -> None:
    new = report()
    slower = new.model_copy(update={"timeline": [
        s.model_copy(update={"p50_ms": (s.p50_ms or 0) * 3, "p99_ms": (s.p99_ms or 0) * 3})
        for s in new.timeline
    ]})  # fmt: skip
    plain, page = render(new), render(new, baseline=slower)
    latency = panel(page, "Response time per second (from the intended start)")
    assert {"baseline p50", "baseline p99"} <= set(legend(latency))
    dashed = re.findall(r'<polyline class="series"[^>]*stroke-dasharray="5 3"[^>]*>', latency)
    assert len(dashed) == 2
    spectrum = panel(page, "Latency by percentile: service vs response time")
    assert {"baseline service time", "baseline response time"} <= set(legend(spectrum))
    assert "baseline deliveries" in legend(panel(page, "Arrivals vs deliveries"))
    before, after = charts(plain), charts(page)
    drawn_on = [CHARTS[0], CHARTS[2], CHARTS[3]]
    for title in drawn_on:
        assert int(after[title]["data-points"]) > int(before[title]["data-points"]), title
    assert "baseline" not in plain
    # The legend sits right of the plot area, never over the data.
    assert all(float(x) >= 750 for x in re.findall(r'<text x="([\d.]+)" y="[\d.]+">baseline',
                                                    page))  # fmt: skip


VERDICT = re.compile(r'<p class="verdict (\w+)"><b>(\w+)</b>(.*?)</p>')


def verdict_of(page: str) -> tuple[str, str, list[str]]:
    """The verdict line's class, its head (PASS, ATTENTION, FAIL) and its parts."""
    found = VERDICT.search(page)
    assert found is not None
    return found[1], found[2], [html.unescape(t) for t in re.findall(r">([^<]+)</span>", found[3])]


def rows_of(page: str, cls: str) -> list[list[str]]:
    table = re.search(rf'<table class="{cls}">.*?</table>', page, re.S)
    assert table is not None, cls
    return [re.findall(r"<td[^>]*>([^<]*)</td>", row)
            for row in re.findall(r"<tr>(.*?)</tr>", table[0].split("<tbody>")[1])]  # fmt: skip


def test_the_verdict_and_a_table_tell_the_comparison_with_the_baseline() -> None:
    new = report()
    faster = new.model_copy(update={"latency_ms": new.latency_ms.model_copy(update={
        "response": new.latency_ms.response.model_copy(update={"p50": 1.0})})})  # fmt: skip
    # Worse: the verdict fails, naming the metrics and the tolerance, as the console does.
    page = render(new, faster, compare(new, faster, 0.1))
    cls, head, parts = verdict_of(page)
    assert (cls, head) == ("bad", "FAIL")
    assert parts[-1] == "WORSE than the baseline beyond the 10% tolerance: response p50"
    assert "<h2>Against the baseline (tolerance 10%)</h2>" in page
    assert re.search(r'<table class="comparison"><thead><tr><th>metric</th><th>baseline</th>'
                     r"<th>new</th><th>change</th><th>worse\?</th>", page)  # fmt: skip
    rows = rows_of(page, "comparison")
    assert [row[0] for row in rows] == [
        "rate (deliveries/s)",
        "response p50",
        "response p90",
        "response p99",
        "failure rate",
        "throttle min limit",
    ]
    p50 = new.latency_ms.response.p50
    assert p50 is not None
    assert rows[1] == ["response p50", "1.0 ms", f"{p50:.1f} ms", f"{(p50 - 1) * 100:+.1f}%",
                       "WORSE"]  # fmt: skip
    assert [row[4] for row in rows] == ["no", "WORSE", "no", "no", "no", "no"]
    # Not worse: within the tolerance, and the verdict says so.
    same = render(new, new, compare(new, new, 0.25))
    assert verdict_of(same)[2][-1] == "within 25% of the baseline"
    assert verdict_of(same)[1] == "ATTENTION"  # the sample run's throttle, not the comparison
    assert "WORSE" not in same
    # A baseline without a comparison (the API): its series, no verdict on it, no table.
    assert "baseline" not in " ".join(verdict_of(render(new, faster))[2])
    assert '<table class="comparison">' not in render(new, faster)


def test_the_header_tells_who_built_the_report_and_when() -> None:
    run = run_report(metrics(), SETTINGS, traffic=TrafficSettings(count=25, seed=7))
    assert run.tool_version  # stamped when built, as a load report is
    assert run.generated_at
    page = render(run)
    assert f"<dt>webhook-sim</dt><dd>{run.tool_version}</dd>" in page
    built = run.generated_at.replace("T", " ").replace("Z", " UTC")
    assert f"<dt>date</dt><dd>{built}</dd>" in page
    # A report written before them: the page says when it was rendered, not that it ran then.
    old = RunReport.model_validate({**as_json(run), "tool_version": None, "generated_at": None})
    page = render(old)
    assert re.search(r"<dt>date</dt><dd>- \(page rendered \d{4}-\d\d-\d\d [\d:]+ UTC\)</dd>",
                     page)  # fmt: skip
    assert "<dt>webhook-sim</dt><dd>- (page rendered by " in page
    # Merged (perhaps a day later): the shards' shared start is the run's date.
    shards = Shards(run_id="r", count=2, merged=[0, 1], missing=[],
                    start_at="2026-11-25T10:00:00.000Z", fingerprint="f")  # fmt: skip
    merged = render(run.model_copy(update={"shards": shards}))
    assert "<dt>date</dt><dd>2026-11-25 10:00:00.000 UTC</dd>" in merged


def test_a_run_report_renders_as_a_page_of_its_own() -> None:
    run = run_report(metrics(), SETTINGS, traffic=TrafficSettings(count=25, seed=7))
    page = render(run)
    assert "<h1>webhook-sim run report</h1>" in page
    found = charts(page)
    assert list(found) == CHARTS
    assert all(int(attrs["data-points"]) > 0 for attrs in found.values()), found
    assert "25 of 25 notifications delivered" in page
    assert "sender kept up" not in page  # a run does not judge its sender
    assert "attempted rate" not in page
    assert "<dt>webhook-sim</dt><dd>-</dd>" not in page  # the version that made the page
    embedded = EMBEDDED.search(page)
    assert embedded is not None
    assert json.loads(embedded.group(1))["kind"] == "run"


# In a browser ------------------------------------------------------------------------------


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    pytest.skip("no headless browser: apt-get install chromium (Debian's chromium package)")


def browse(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on `page`, offline-only, with a profile of its own (tests run in
    parallel); `args`: --dump-dom or --screenshot=PATH."""
    command = [
        chromium(), "--headless=new", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
        "--no-first-run", "--disable-extensions", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--virtual-time-budget=5000",
        "--window-size=1280,2400", f"--user-data-dir={profile}", *args, page.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def drawn(page: Path, profile: Path) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The page's <body data-*> and its charts' data-*, after its scripts ran."""
    dom = browse(page, profile, "--dump-dom").stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None, dom[:500]
    return dict(re.findall(r'(data-[\w-]+)="([^"]*)"', body.group(1))), charts(dom)


@pytest.mark.e2e  # a short load run and a browser
def test_a_browser_draws_every_chart_offline(
    shared_receiver: Callable[..., str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chromium()
    url = shared_receiver("--fail-rate", "0.3", "--latency-ms", "2")
    json_file, page = tmp_path / "load.json", tmp_path / "load.html"
    code = main([
        "load", "--url", url, "--ramp", "0:50,1s:200,2s:200", "--workers", "1", "--seed", "3",
        "--max-attempts", "4", "--interval", "0.2", "--report-json", str(json_file),
        "--report-html", str(page), "--expect", "response_p99_ms < 5000",
        "--expect", "delivered_ratio > 0.5",
    ])  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0, out

    found = every_chart_drawn(page, tmp_path / "profile")

    shot = tmp_path / "report.png"
    browse(page, tmp_path / "profile", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000  # a drawn page, not a blank one
    if target := os.environ.get("WEBHOOK_SIM_SCREENSHOT"):
        shutil.copyfile(shot, target)

    # The same page from the saved JSON (`report --html`), drawn the same.
    again = tmp_path / "again.html"
    assert main(["report", str(json_file), "--html", str(again)]) == 0
    capsys.readouterr()
    _, redrawn = drawn(again, tmp_path / "profile")
    assert {t: a["data-drawn"] for t, a in redrawn.items()} == {
        t: a["data-drawn"] for t, a in found.items()
    }

    # Against a baseline (itself: not worse), the baseline's series are drawn too, and the
    # verdict and a table say how the two compare.
    against = tmp_path / "against.html"
    code = main(["report", str(json_file), "--html", str(against), "--compare", str(json_file)])
    assert code == 0, capsys.readouterr().out
    with_base = every_chart_drawn(against, tmp_path / "profile", "comparison")
    for title in (CHARTS[0], CHARTS[2], CHARTS[3]):
        assert int(with_base[title]["data-drawn"]) > int(found[title]["data-drawn"]), title
    text = against.read_text()
    assert "baseline p99" in text
    assert verdict_of(text)[2][-1] == "within 10% of the baseline"
    assert [row[4] for row in rows_of(text, "comparison")] == ["no"] * 6


def every_chart_drawn(page: Path, profile: Path, *more: str) -> dict[str, dict[str, str]]:
    """The page drawn offline with no error: every chart's every data mark, every table
    (`more`: tables of some pages only)."""
    body, found = drawn(page, profile)
    assert body["data-errors"] == "0", body.get("data-error-text")
    assert body["data-resources"] == "0"
    assert list(found) == CHARTS
    for title, attrs in found.items():
        assert int(attrs["data-points"]) > 0, title
        assert attrs["data-drawn"] == attrs["data-points"], (title, attrs)
    for table in ("outcomes", "slowest", "summary", "settings", *more):
        assert body[f"data-table-{table}"] != "0", (table, body)
    return found


@pytest.mark.e2e  # a short run and a browser
def test_run_writes_an_html_report_too(
    shared_receiver: Callable[..., str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chromium()
    url = shared_receiver("--fail-rate", "0.3", "--latency-ms", "2")
    page, json_file = tmp_path / "run.html", tmp_path / "run.json"
    code = main(["run", "--url", url, "--count", "60", "--max-rate", "40", "--seed", "5",
                 "--max-attempts", "10", "--interval", "0.05", "--report-html", str(page),
                 "--report-json", str(json_file)])  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0, out
    assert f"HTML report written to {page}" in out
    text = page.read_text()
    assert "<h1>webhook-sim run report</h1>" in text
    assert "notifications delivered" in text
    every_chart_drawn(page, tmp_path / "profile")
    saved = json.loads(json_file.read_text())
    assert saved["kind"] == "run"
    assert {"timeline", "samples", "slowest", "spectrum"} <= saved.keys()


@pytest.mark.e2e  # a browser
def test_the_browser_check_sees_errors_and_requests(tmp_path: Path) -> None:
    """The probe is not blind: a page that fetches and throws is caught."""
    chromium()
    page = tmp_path / "bad.html"
    sabotage = '<img src="http://192.0.2.1/x.png"><script>notDefined()</script><h1>'
    page.write_text(render(report()).replace("<h1>", sabotage, 1))
    body, found = drawn(page, tmp_path / "profile")
    assert int(body["data-errors"]) >= 2, body
    assert "notDefined" in body["data-error-text"]
    assert "blocked http://192.0.2.1" in body["data-error-text"]
    assert list(found) == CHARTS
