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
from dispatcher.report import load_report, read_load_report
from dispatcher.report.model import LoadReport, as_json
from dispatcher.settings import Settings, TrafficSettings

CHARTS = [
    "Arrivals vs deliveries",
    "Attempt outcomes (stacked)",
    "Response time per second (from the intended start)",
    "Latency by percentile: service vs response time",
    "In-flight limit against in flight",
    "Throttle decisions: failed share of each window",
]
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
    for t, (arrivals, ok, failed) in enumerate([(10, 9, 1), (10, 10, 1), (5, 6, 0)]):
        second = m.second(t)
        second.arrivals, second.deliveries = arrivals, ok
        second.attempts, second.failures = ok + failed, failed
        for ms in range(1, ok + 1):
            record_seconds(m.latency, ms / 1000)
            record_seconds(m.response, 2 * ms / 1000)
            record_seconds(m.this_second, 2 * ms / 1000)
    m.close_second()
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
    for heading in ("Thresholds", "Outcomes", "Summary", "Settings used"):
        assert heading in page or (heading == "Thresholds" and r.thresholds is None)
    for outcome in ("200", "503", "timeout"):
        assert f"<td>{outcome}</td>" in page
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
    for second in data["timeline"]:
        del second["p50_ms"], second["p90_ms"], second["max_ms"]
    path = tmp_path / "old.txt"  # not .json: the schema fixture checks .json files
    path.write_text(json.dumps(data))
    found = charts(render(read_load_report(path)))
    assert list(found) == CHARTS
    assert all(int(attrs["data-points"]) > 0 for attrs in found.values()), found


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

    body, found = drawn(page, tmp_path / "profile")
    assert body["data-errors"] == "0", body.get("data-error-text")
    assert body["data-resources"] == "0"
    assert list(found) == CHARTS
    for title, attrs in found.items():
        assert int(attrs["data-points"]) > 0, title
        assert attrs["data-drawn"] == attrs["data-points"], (title, attrs)

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
