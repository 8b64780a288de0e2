"""`--metrics-port`: the Prometheus exposition of a run's figures (dispatcher.exporter), read
back with prometheus_client's own text parser."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dispatcher.errors import ConfigError
from dispatcher.exporter import Exporter, buckets, check_port, serving
from dispatcher.livefigures import Told, live_figures
from dispatcher.metrics import Metrics, new_histogram, record_seconds, to_wire

PORT0 = {"metrics_port": 0}  # any free port, on 127.0.0.1 (the default host)


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample served, by name and labels."""
    with urllib.request.urlopen(url, timeout=30) as resp:  # loopback only
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def a_run() -> Metrics:
    m = Metrics(cap=50)
    m.scheduled, m.delivered, m.exhausted, m.cancelled = 10, 6, 1, 2
    m.arrivals, m.attempts_total, m.requests_total = 9, 12, 13
    m.in_flight, m.limit, m.retries_waiting = 3, 25, 1
    m.by_outcome.update({"200": 6, "500": 4, "timeout": 2})
    for seconds in (0.0012, 0.0012, 0.005, 2.0):
        record_seconds(m.response, seconds)
    record_seconds(m.latency, 0.0007)
    return m


def test_buckets_are_cumulative_and_count_a_value_at_its_bound() -> None:
    h = new_histogram()
    for seconds in (0.0012, 0.0012, 0.005, 2.0):
        record_seconds(h, seconds)
    counts, total = buckets(h, (0.001, 0.0025, 0.005, 1.0, 2.5))
    assert counts == [
        ("0.001", 0), ("0.0025", 2), ("0.005", 3), ("1.0", 3), ("2.5", 4), ("+Inf", 4),
    ]  # fmt: skip
    assert total == pytest.approx(2.0074, rel=1e-3)


def test_an_empty_histogram_has_empty_buckets() -> None:
    counts, total = buckets(new_histogram(), (0.001,))
    assert counts == [("0.001", 0), ("+Inf", 0)]
    assert total == 0


def test_nothing_is_served_before_the_first_picture_and_everything_after() -> None:
    with serving(PORT0, "load") as exporter:
        url = url_of(exporter)
        assert scrape(url) == {}
        exporter.publish(a_run())
        got = scrape(url)
    assert got[("webhook_sim_notifications_scheduled_total", ())] == 10
    final = {labels[0][1]: v for (name, labels), v in got.items()
             if name == "webhook_sim_notifications_final_total"}  # fmt: skip
    assert final == {"delivered": 6, "exhausted": 1, "cancelled": 2}
    attempts = {labels[0][1]: v for (name, labels), v in got.items()
                if name == "webhook_sim_attempts_total"}  # fmt: skip
    assert attempts == {"200": 6, "500": 4, "timeout": 2}
    assert got[("webhook_sim_requests_total", ())] == 13
    assert got[("webhook_sim_arrivals_total", ())] == 9
    assert got[("webhook_sim_in_flight", ())] == 3
    assert got[("webhook_sim_in_flight_limit", ())] == 25
    assert got[("webhook_sim_in_flight_cap", ())] == 50
    assert got[("webhook_sim_retries_waiting", ())] == 1
    assert got[("webhook_sim_response_time_seconds_bucket", (("le", "0.0025"),))] == 2
    assert got[("webhook_sim_response_time_seconds_bucket", (("le", "+Inf"),))] == 4
    assert got[("webhook_sim_response_time_seconds_count", ())] == 4
    assert got[("webhook_sim_service_time_seconds_bucket", (("le", "0.001"),))] == 1
    info = [labels for name, labels in got if name == "webhook_sim_run_info"]
    assert len(info) == 1
    assert ("command", "load") in info[0]


def test_the_server_is_gone_after_the_block() -> None:
    with serving(PORT0, "run") as exporter:
        url = url_of(exporter)
        pass
    with pytest.raises(urllib.error.URLError):
        scrape(url)


def test_a_port_in_use_is_one_line_naming_the_flag() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = pytest.raises(ConfigError, match=rf"--metrics-port {port} .*address in use")
        with refused, serving({"metrics_port": port}, "load"):
            pass


@pytest.mark.parametrize("port", [-1, 65536])
def test_a_port_out_of_range_is_refused(port: int) -> None:
    with pytest.raises(ConfigError, match=rf"--metrics-port {port}: a TCP port 0..65535"):
        check_port(port)


def test_without_a_port_nothing_is_served_or_wrapped() -> None:
    def shown(m: Metrics) -> None:
        pass

    with serving({}, "load") as exporter:
        assert exporter.progress(shown) is shown
        assert exporter.progress() is None
        work = asyncio.sleep(0)
        assert exporter.publishing(SimpleNamespace(), work) is work  # type: ignore[arg-type]
        work.close()


def test_a_workers_parent_publishes_then_shows() -> None:
    seen: list[Metrics] = []
    with serving(PORT0, "run") as exporter:
        url = url_of(exporter)
        callback = exporter.progress(seen.append)
        assert callback is not None
        callback(a_run())
        assert scrape(url)[("webhook_sim_notifications_scheduled_total", ())] == 10
    assert len(seen) == 1


async def test_an_engine_is_copied_while_it_runs_and_served_whole_at_the_end() -> None:
    engine: Any = SimpleNamespace(metrics=a_run())
    with serving(PORT0, "load") as exporter:
        url = url_of(exporter)
        copied = asyncio.Event()
        go_on = asyncio.Event()

        async def work() -> str:
            copied.set()
            await go_on.wait()
            return "done"

        task = asyncio.create_task(exporter.publishing(engine, work()))
        await copied.wait()
        engine.metrics.scheduled = 11  # the engine goes on; the copy served is the older one
        got = await asyncio.to_thread(scrape, url)
        assert got[("webhook_sim_notifications_scheduled_total", ())] == 10
        go_on.set()
        assert await task == "done"
        got = await asyncio.to_thread(scrape, url)
        assert got[("webhook_sim_notifications_scheduled_total", ())] == 11


def url_of(exporter: Exporter) -> str:
    return f"http://127.0.0.1:{exporter.port}/metrics"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"metrics_host": "0.0.0.0"}, "--metrics-host needs --metrics-port PORT"),
        ({"metrics_linger": 5.0}, "--metrics-linger needs --metrics-port PORT"),
        ({"metrics_port": 0, "metrics_linger": -1.0}, "--metrics-linger -1: seconds, 0..3600"),
        ({"metrics_port": 70000}, "--metrics-port 70000: a TCP port 0..65535"),
    ],
)
def test_metrics_flags_are_checked_before_anything_is_served(
    flags: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)), serving(flags, "load"):
        pass


@pytest.mark.parametrize(
    "flag", [["--metrics-port", "0"], ["--metrics-host", "::1"], ["--metrics-linger", "5"]]
)
def test_ray_refuses_metrics_flags(capsys: pytest.CaptureFixture[str], flag: list[str]) -> None:
    """The shards of --ray run on other nodes: nothing here could serve their figures."""
    from dispatcher.cli import main

    code = main(["load", "--url", "http://127.0.0.1:9/", "--ray", "--shards", "2", *flag])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--metrics-port does not go with --ray" in err


def test_a_scrape_renders_a_picture_once() -> None:
    calls: list[Metrics] = []
    with serving(PORT0, "load") as exporter, patch_families(calls):
        url = url_of(exporter)
        exporter.publish(a_run())
        scrape(url)
        scrape(url)
        assert len(calls) == 1
        exporter.publish(a_run())
        scrape(url)
    assert len(calls) == 2


def test_the_end_lingers_until_a_scrape_has_read_the_final_figures() -> None:
    """With --metrics-linger, the block's end waits for a scrape of the final picture: a
    scraper that keeps scraping until the block is over must have seen the final figures."""
    seen: list[float] = []
    over = threading.Event()
    with serving({**PORT0, "metrics_linger": 600.0}, "run") as exporter:
        url = url_of(exporter)

        def scraper() -> None:
            with contextlib.suppress(OSError):  # the server is gone (refused, reset): over
                while not over.is_set():
                    got = scrape(url)
                    seen.append(got.get(("webhook_sim_notifications_scheduled_total", ()), 0))

        thread = threading.Thread(target=scraper, daemon=True)
        thread.start()
        exporter.publish(a_run())
        final = a_run()
        final.scheduled = 99
        exporter.publish(final)
        exporter.finish()
    over.set()
    thread.join(30)
    assert 99 in seen


def test_without_linger_the_end_does_not_wait_for_a_scrape() -> None:
    with serving(PORT0, "run") as exporter:
        exporter.publish(a_run())
        exporter.finish()
    # Nothing scraped, and the block is over: no wait happened (else this test would hang).


class patch_families:
    """Count the renderings of pictures (dispatcher.exporter.families)."""

    def __init__(self, calls: list[Metrics]) -> None:
        self.calls = calls

    def __enter__(self) -> None:
        import dispatcher.exporter as exporter

        self.original = exporter.families

        def counted(m: Metrics, command: str) -> list[Any]:
            self.calls.append(m)
            return self.original(m, command)

        exporter.families = counted  # type: ignore[assignment]

    def __exit__(self, *exc: object) -> None:
        import dispatcher.exporter as exporter

        exporter.families = self.original  # type: ignore[assignment]


# Workers: what the parent shows ---------------------------------------------------------------


def _figures(scheduled: int, delivered: int, in_flight: int) -> dict[str, Any]:
    m = Metrics(cap=50)
    m.scheduled, m.delivered, m.in_flight, m.arrivals = scheduled, delivered, in_flight, scheduled
    m.by_outcome["200"] = delivered
    for _ in range(delivered):
        record_seconds(m.response, 0.002)
    return live_figures(m)


def _wire(scheduled: int, delivered: int) -> dict[str, Any]:
    m = Metrics(cap=50)
    m.scheduled, m.delivered, m.arrivals = scheduled, delivered, scheduled
    m.by_outcome["200"] = delivered
    for _ in range(delivered):
        record_seconds(m.response, 0.002)
    return to_wire(m)


def test_the_parent_shows_the_workers_once_every_one_has_told() -> None:
    shown: list[Metrics] = []
    told = Told(2, shown.append)
    told.progress(0, _figures(10, 8, 2))
    assert shown == []  # one worker's figures would look like the whole run's
    told.progress(1, _figures(5, 5, 0))
    assert [(m.scheduled, m.delivered, m.in_flight) for m in shown] == [(15, 13, 2)]


def test_a_dead_worker_keeps_its_last_figures_and_nothing_in_flight() -> None:
    """A worker killed mid-run: what it was seen doing stays counted (the report leaves it
    out, and names it), so no counter served ever goes down."""
    shown: list[Metrics] = []
    told = Told(2, shown.append)
    told.progress(0, _figures(10, 8, 2))
    told.progress(1, _figures(6, 5, 1))
    told.ended(0, None)  # killed
    told.ended(1, _wire(7, 7))  # finished
    assert [(m.scheduled, m.delivered, m.in_flight) for m in shown] == [
        (16, 13, 3), (16, 13, 1), (17, 15, 0),
    ]  # fmt: skip
    for before, after in itertools.pairwise(shown):
        assert after.scheduled >= before.scheduled
        assert after.delivered >= before.delivered
        assert after.response.get_total_count() >= before.response.get_total_count()


def test_a_worker_that_ends_before_telling_does_not_hold_the_others_back() -> None:
    shown: list[Metrics] = []
    told = Told(2, shown.append)
    told.ended(0, None)  # died before its first word
    assert shown == []
    told.progress(1, _figures(4, 4, 0))
    assert [m.scheduled for m in shown] == [4]


# End to end: a real run, scraped while it goes ----------------------------------------------

DELIVERED = ("webhook_sim_notifications_final_total", (("outcome", "delivered"),))


def _metrics_url(proc: subprocess.Popen[str]) -> str:
    """The address the run tells on stderr before it starts (a bound on a very busy machine,
    not a timing: a run that never tells fails here instead of hanging the suite)."""
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([proc.stderr], [], [], left)[0]:
            break
        line = proc.stderr.readline()
        if not line:
            break
        if line.startswith("metrics: "):
            return line.split()[1]
    raise AssertionError(f"no metrics address on stderr (exit code {proc.poll()})")


def _growing(name: str) -> bool:
    """The samples that may only grow: counters and every part of a histogram."""
    return name.endswith(("_total", "_bucket", "_count", "_sum"))


@pytest.mark.e2e
@pytest.mark.parametrize(
    "argv",
    [
        ["load", "--rate", "200", "--duration", "10m", "--workers", "1"],
        ["load", "--rate", "200", "--duration", "10m", "--workers", "2"],
        ["run", "--count", "10000000", "--concurrency", "20", "--workers", "2"],
    ],
    ids=["load", "load-workers", "run-workers"],
)
def test_a_scrape_during_a_run_parses_and_its_counters_only_grow(
    shared_receiver: Callable[..., str], tmp_path: Path, argv: list[str]
) -> None:
    url = shared_receiver("--latency-ms", "20")
    report = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatcher.cli", *argv, "--url", url, "--metrics-port", "0",
         "--report-json", str(report), "--grace", "0.5"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        metrics = _metrics_url(proc)
        seen: list[dict[tuple[str, tuple[tuple[str, str], ...]], float]] = []
        deadline = time.monotonic() + 120  # a bound for a machine that is very busy, not a timing
        while len({s.get(DELIVERED, 0) for s in seen if s.get(DELIVERED, 0) > 0}) < 3:
            assert time.monotonic() < deadline, f"deliveries never grew: {seen[-1:]}"
            assert proc.poll() is None, "the run ended before it was scraped"
            seen.append(scrape(metrics))
            time.sleep(0.2)
        for before, after in itertools.pairwise(seen):
            shrunk = {k: (v, after.get(k)) for k, v in before.items()
                      if _growing(k[0]) and not after.get(k, -1) >= v}  # fmt: skip
            assert not shrunk, shrunk
        last = seen[-1]
        assert last[("webhook_sim_in_flight_cap", ())] > 0
        assert last[("webhook_sim_response_time_seconds_count", ())] > 0
        assert last[("webhook_sim_attempts_total", (("outcome", "200"),))] > 0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    delivered = json.loads(report.read_text())["notifications"]["delivered"]
    assert delivered >= last[DELIVERED]  # the report has at least what was served


def _workers_of(pid: int) -> list[int]:
    """The sender worker processes of a `webhook-sim` process (multiprocessing's spawn
    children, its resource tracker left out)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    workers = []
    for child in map(int, children):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
            workers.append(child)
    return workers


@pytest.mark.e2e
def test_a_killed_worker_and_the_end_never_make_a_counter_go_down(
    shared_receiver: Callable[..., str], tmp_path: Path
) -> None:
    """A worker killed with SIGKILL mid-run, then a stop: every scrape, the lingering final
    one included, has each counter at least where the one before had it."""
    url = shared_receiver("--latency-ms", "20")
    report = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatcher.cli", "load", "--url", url, "--rate", "200",
         "--duration", "10m", "--workers", "2", "--metrics-port", "0",
         "--metrics-linger", "120", "--report-json", str(report), "--grace", "0.5"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: list[dict[tuple[str, tuple[tuple[str, str], ...]], float]] = []
    try:
        metrics = _metrics_url(proc)
        deadline = time.monotonic() + 120  # a bound for a very busy machine, not a timing
        killed = stopped = False
        while proc.poll() is None:
            assert time.monotonic() < deadline, f"the run never got through: {seen[-1:]}"
            with contextlib.suppress(OSError):  # the server is gone: the process is ending
                seen.append(scrape(metrics))
            grown = len({s.get(DELIVERED, 0) for s in seen if s.get(DELIVERED, 0) > 0})
            if grown >= 2 and not killed:
                workers = _workers_of(proc.pid)
                assert len(workers) == 2, workers
                os.kill(workers[0], signal.SIGKILL)
                killed, mark = True, len(seen)
            if killed and not stopped and len(seen) > mark + 3:
                proc.send_signal(signal.SIGINT)
                stopped = True
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "died (killed by SIGKILL)" in err
    for before, after in itertools.pairwise(seen):
        shrunk = {k: (v, after.get(k)) for k, v in before.items()
                  if _growing(k[0]) and not after.get(k, -1) >= v}  # fmt: skip
        assert not shrunk, shrunk
    final = seen[-1]
    assert final[("webhook_sim_in_flight", ())] == 0
    delivered = json.loads(report.read_text())["notifications"]["delivered"]
    assert final[DELIVERED] >= delivered  # the report leaves the killed worker out
