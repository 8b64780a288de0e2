"""Runs that end and figures that are honest: the duration is a bound, nothing delivered is not
a success, every request is counted, and the sender is blamed only when it is the cause."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from dispatcher.arrivals import RateProfile
from dispatcher.cli import main
from dispatcher.delivery import AttemptResult
from dispatcher.engine import Engine, EngineOptions, Observer, Outcome
from dispatcher.load import LoadPlan, load_report, run_share
from dispatcher.metrics import Metrics
from dispatcher.payloads import Notification
from dispatcher.report.model import as_json
from dispatcher.saturation import judge_sender
from dispatcher.settings import Settings, TrafficSettings
from dispatcher.testing import virtualtime
from dispatcher.testing.memory import Answer, MemoryTransport, Reply

from .conftest import StartReceiver
from .helpers import deliver, serving, settings


@pytest.fixture
async def refusing() -> AsyncIterator[tuple[str, dict[str, int]]]:
    """An OAuth2 provider and a receiver that answers 401 to every notification, whatever
    the token: the sender renews its token and sends again each time."""
    seen = {"posts": 0, "tokens": 0}

    async def token(request: web.Request) -> web.Response:
        seen["tokens"] += 1
        return web.json_response(
            {"access_token": f"t{seen['tokens']}", "token_type": "Bearer", "expires_in": 3600}
        )

    async def notify(request: web.Request) -> web.Response:
        seen["posts"] += 1
        await request.read()
        return web.json_response({"error": "invalid_token"}, status=401)

    app = web.Application()
    app.router.add_post("/token", token)
    app.router.add_post("/hook", notify)
    async with serving(app) as url:
        yield url, seen


URL = "http://receiver.test/hook"


def on_virtual_time(
    s: Settings, plan: LoadPlan, reply: Reply, *, observer: Observer | None = None
) -> Metrics:
    """`load`'s share of a plan on virtual time, against an in-memory receiver."""

    async def main() -> Metrics:
        options = EngineOptions(seed=1, clock=asyncio.get_running_loop().time)
        transport = MemoryTransport(reply, timeout_s=s.timeout_s)
        engine = Engine(s, observer=observer, transport=transport, options=options)
        return await run_share(engine, s, plan, 0)

    return virtualtime.run(main())


# Every send counted ----------------------------------------------------------------------------


async def test_resends_after_a_token_refresh_are_counted_as_requests(
    refusing: tuple[str, dict[str, int]],
) -> None:
    base, seen = refusing
    s = settings(
        base + "/hook",
        max_attempts=3,
        auth={"type": "oauth2", "token_url": base + "/token", "client_id": "c",
              "client_secret": "s"},
    )  # fmt: skip
    m, _ = await deliver(s, [_note(i) for i in range(10)])
    assert m.attempts_total == 30
    assert m.requests_total == seen["posts"] == 60
    assert m.resent_after_401 == 30
    assert m.exhausted == 10


def _note(i: int) -> Notification:
    from dispatcher.payloads import PayloadFactory, notification

    return notification(PayloadFactory(i).single("by-client"))


# The duration is a bound ---------------------------------------------------------------------


def test_open_model_duration_bounds_retries_and_in_flight() -> None:
    s = settings(URL, concurrency=5, max_attempts=5, timeout_s=60, throttle={"enabled": False})
    plan = LoadPlan(RateProfile.constant(100, 0.3), 0.3, TrafficSettings(seed=1),
                    graceful_stop_s=0.2)  # fmt: skip
    # Every slot hangs: without the bound this would wait out the 60 s timeout, then retry.
    m = on_virtual_time(s, plan, Answer(delay_s=3600))
    assert m.duration_s == pytest.approx(0.5)
    assert m.scheduled == 5  # one per slot; every slot hung
    assert m.cancelled == m.scheduled
    assert m.delivered == m.exhausted == 0
    # Arrivals due while every slot hung, before the duration ended, never started.
    assert m.scheduled + m.dropped == len(list(RateProfile.constant(100, 0.3).offsets()))
    report = as_json(load_report(m, s, plan, interrupted=None))
    rate = report["rate"]
    assert rate["dropped"] == m.dropped
    assert rate["attempted_per_s"] == pytest.approx(m.arrivals / m.arrival_window_s)
    assert m.arrival_window_s == pytest.approx(0.3)


async def test_retries_due_after_the_graceful_stop_are_cancelled_at_once(
    refusing: tuple[str, dict[str, int]],
) -> None:
    base, _ = refusing
    s = settings(base + "/hook", max_attempts=5, interval_s=30, max_interval_s=60,
                 throttle={"enabled": False})  # fmt: skip
    plan = LoadPlan(RateProfile.constant(50, 0.2), 0.2, TrafficSettings(seed=1),
                    graceful_stop_s=5)  # fmt: skip
    m = await run_share(Engine(s), s, plan, 0)
    assert m.scheduled == 10
    assert m.attempts_total == 10  # the first retries were 30 s away
    assert m.cancelled == 10
    assert m.duration_s < 5  # ended once nothing could finish in time, not at the deadline


def test_load_that_delivers_nothing_exits_1_and_says_so(
    receiver_process: Callable[..., str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: 21 s for a 2 s test against a receiver answering 401, exit 0, nothing delivered.
    Retries are due a second after each failure, past the graceful stop: they are cancelled."""
    url = receiver_process("--auth", "oauth2", "--client-id", "c", "--client-secret", "s",
                           "--status", "401")  # fmt: skip
    oauth2 = ["--token-url", url + "/oauth/token", "--client-id", "c", "--client-secret", "s"]
    out_file = tmp_path / "r.json"
    code = main([
        "load", "--url", url, "--rate", "100", "--duration", "0.3", "--workers", "1",
        "--max-attempts", "5", "--interval", "1", "--graceful-stop", "0.2", *oauth2,
        "--report-json", str(out_file),
    ])  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 1, out
    assert "nothing was delivered" in out
    report = json.loads(out_file.read_text())
    n = report["notifications"]
    assert n["delivered"] == 0
    assert n["exhausted"] + n["cancelled"] == n["scheduled"] == 30
    assert report["attempts"]["total"] == 30
    assert report["requests"] == {
        "sent": 60,
        "resent_after_401": 30,
        "resent_on_closed_connection": 0,
    }
    with urllib.request.urlopen(url + "/_stats") as resp:  # loopback only
        assert json.load(resp)["received"] == 60  # what the receiver got, every one counted
    # Thresholds decide when given.
    code = main([
        "load", "--url", url, "--rate", "20", "--duration", "0.2", "--workers", "1",
        "--max-attempts", "1", "--graceful-stop", "0", *oauth2, "--expect", "delivered_ratio < 0.5",
    ])  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0, out


# Honest saturation ---------------------------------------------------------------------------


def test_saturation_needs_lateness_that_persists() -> None:
    healthy = judge_sender(seconds=[(200, 0)] * 4, lag_p99_ms=0.5, cap=100, min_limit=100,
                           queued=0)  # fmt: skip
    assert not healthy.saturated
    assert not healthy.throttled
    assert healthy.message == ""
    one_stall = judge_sender(seconds=[(200, 0), (200, 30), (200, 0), (200, 0)], lag_p99_ms=3,
                             cap=100, min_limit=100, queued=0)  # fmt: skip
    assert not one_stall.saturated  # a lone stall is not a trend
    persistent = judge_sender(seconds=[(200, 5), (200, 4), (200, 6)], lag_p99_ms=3, cap=100,
                              min_limit=100, queued=0)  # fmt: skip
    assert persistent.saturated
    assert "--workers" in persistent.message
    lagging = judge_sender(seconds=[(200, 0)] * 3, lag_p99_ms=45, cap=100, min_limit=100,
                           queued=0)  # fmt: skip
    assert lagging.saturated
    assert "lag" in lagging.message


def test_a_throttled_run_blames_the_receiver_and_never_asks_for_workers() -> None:
    verdict = judge_sender(seconds=[(200, 0)] * 4, lag_p99_ms=1, cap=100, min_limit=3,
                           queued=500)  # fmt: skip
    assert verdict.throttled
    assert not verdict.saturated
    assert verdict.message.startswith(
        "throttled: the receiver's failures cut the in-flight limit to 3"
    )
    assert "--workers" not in verdict.message


class _Hog:
    """An observer that holds the event loop for 30 ms after every attempt: a sender starved of
    its own loop (on virtual time, the clock moves on as if the loop had been busy)."""

    def on_attempt(
        self, note: Notification, result: AttemptResult, retry_in_s: float | None
    ) -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, virtualtime.VirtualTimeLoop)
        loop.advance(0.03)

    def on_final(self, note: Notification, outcome: Outcome, attempts: int) -> None:
        pass


def test_a_starved_sender_is_flagged() -> None:
    s = settings(URL, concurrency=50, max_attempts=1, throttle={"enabled": False})
    plan = LoadPlan(RateProfile.constant(200, 2.5), 2.5, TrafficSettings(seed=1),
                    graceful_stop_s=1)  # fmt: skip
    m = on_virtual_time(s, plan, Answer(), observer=_Hog())
    report = as_json(load_report(m, s, plan, interrupted=None))
    assert report["sender"]["saturated"], report["sender"]
    assert "--workers" in report["sender"]["message"]


@pytest.fixture
def busy_machine() -> Iterator[None]:
    """Two processes burning a core each, at a lower priority, as a machine's background work."""
    hogs = [
        subprocess.Popen(
            [sys.executable, "-c", "import os; os.nice(10)\nwhile 1: pass"],
        )
        for _ in range(2)
    ]
    yield
    for hog in hogs:
        hog.kill()
        hog.wait()


@pytest.mark.e2e  # a real load run beside a real CPU hog
def test_a_modest_rate_on_a_busy_machine_is_not_saturated(
    busy_machine: None, tmp_path: Path
) -> None:
    receiver = subprocess.Popen(
        [sys.executable, "-m", "dispatcher.cli", "receiver", "--port", "0", "--quiet"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert receiver.stderr is not None
        line = receiver.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, line
        url = found.group(0)
        out_file = tmp_path / "r.json"
        done = subprocess.run(
            [sys.executable, "-m", "dispatcher.cli", "load", "--url", url, "--rate", "200",
             "--duration", "3", "--workers", "1", "--report-json", str(out_file)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        sender = json.loads(out_file.read_text())["sender"]
        assert not sender["saturated"], sender
    finally:
        receiver.terminate()
        receiver.wait()


async def test_a_request_refused_before_sending_is_not_counted_as_sent() -> None:
    """A token holding CR/LF is refused before anything leaves: no request was sent."""
    injected = web.Application()

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "tok\r\nX-Injected: 1", "token_type": "Bearer"})

    injected.router.add_post("/token", token)
    async with serving(injected) as base:
        s = settings(
            base + "/hook", max_attempts=2,
            auth={"type": "oauth2", "token_url": base + "/token", "client_id": "c",
                  "client_secret": "s"},
        )  # fmt: skip
        m, _ = await deliver(s, [_note(1)])
    assert m.by_outcome == {"invalid-header": 2}
    assert m.requests_total == 0


def test_the_arrival_window_is_the_duration_not_the_last_arrival() -> None:
    """One arrival in a 1 s test is 1/s attempted, not 1,000/s over a window that ended with
    it; and the test lasts its second."""
    s = settings(URL, max_attempts=1)
    plan = LoadPlan(RateProfile.constant(0.5, 1.0), 1.0, TrafficSettings(seed=1),
                    graceful_stop_s=1)  # fmt: skip
    m = on_virtual_time(s, plan, Answer(delay_s=0.01))
    assert m.arrivals == 1
    assert m.arrival_window_s == 1.0
    assert m.duration_s == 1.0
    report = as_json(load_report(m, s, plan, interrupted=None))
    assert report["rate"]["attempted_per_s"] <= 1.0


def test_a_throttled_and_lagging_run_still_never_asks_for_workers() -> None:
    verdict = judge_sender(seconds=[(1000, 0)] * 3, lag_p99_ms=25, cap=100, min_limit=6,
                           queued=500)  # fmt: skip
    assert verdict.saturated
    assert verdict.throttled
    assert "--workers" not in verdict.message


async def test_a_retry_dispatched_before_its_last_attempt_is_cleaned_up(
    receiver: StartReceiver,
) -> None:
    """A retry due at once can be dispatched before the done-callback of the attempt that
    failed has run; that callback must not take the new attempt for a cancelled one (it did:
    the in-flight count went wrong and the run hung under load)."""
    r = await receiver(fail_first=2)
    s = settings(r.url, concurrency=10, max_attempts=3, interval_s=1e-6, max_interval_s=1e-6,
                 jitter=0, throttle={"enabled": False})  # fmt: skip
    async with asyncio.timeout(60):  # a safety net: the bug was a hang
        m, _ = await deliver(s, [_note(i) for i in range(50)])
    assert m.delivered == m.scheduled == 50
    assert m.cancelled == 0
    assert m.in_flight == 0
