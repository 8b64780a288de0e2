from __future__ import annotations

import collections
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings

from dispatcher.receiver import ReceiverConfig, RunningReceiver, start_receiver

# No property test may depend on wall-clock time: Hypothesis' default 200 ms deadline per
# example fails on a busy machine (seen: test_throttle with two suites running beside it).
settings.register_profile("webhook-sim", deadline=None)
settings.load_profile("webhook-sim")

pytest_plugins = ["tests.reportcheck"]  # every report a test writes must match the schema

StartReceiver = Callable[..., Awaitable[RunningReceiver]]

# A test that takes one of these fixtures starts a real `webhook-sim` subprocess: end to end.
E2E_FIXTURES = {"receiver_process", "shared_receiver"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` (make test): two workers per usable core, at most 8. Much of the suite waits
    on subprocesses starting and on timers; one worker per core would leave cores idle."""
    if "PYTEST_XDIST_AUTO_NUM_WORKERS" in os.environ:
        return None  # the user's choice, as pytest-xdist reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(2 * (cores or 1), 8)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `e2e` every test that starts a receiver subprocess (`make unit` leaves them out);
    tests that start other processes, or run whole suites and load runs, say so themselves."""
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
async def receiver() -> AsyncIterator[StartReceiver]:
    """Start sandbox receivers on 127.0.0.1 in this test's loop: `await receiver(auth=...)`."""
    running: list[RunningReceiver] = []

    async def start(**config: Any) -> RunningReceiver:
        r = await start_receiver(ReceiverConfig.model_validate(config))
        running.append(r)
        return r

    yield start
    for r in running:
        await r.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


STOP_S = 30.0  # how long a receiver may take to exit once told to: never a measurement


class ReceiverProcess:
    """`webhook-sim receiver ARGS` started as a real subprocess; its base URL in `url`."""

    def __init__(self, *args: str) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dispatcher.cli", "receiver", "--port", "0", "--quiet", *args],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        if not match:
            self.proc.kill()
            rest = self.proc.communicate(timeout=STOP_S)[1]
            raise AssertionError(f"receiver did not start: {line + rest!r}")
        self.url = match.group(0)
        # Whatever it writes later is read off, so that a long-lived receiver never blocks on
        # a full pipe; the last lines go into the message if it dies.
        self.last_lines: collections.deque[str] = collections.deque(maxlen=20)
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.last_lines.append(line)

    def exited(self) -> str | None:
        """Why it is no longer running (it should be), or None."""
        code = self.proc.poll()
        if code is None:
            return None
        return f"receiver {self.args} exited ({code}) while in use: {''.join(self.last_lines)}"

    def signal_stop(self, *, kill: bool = False) -> None:
        if self.proc.poll() is not None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()

    def stop(self, *, kill: bool = False) -> None:
        self.signal_stop(kill=kill)
        self.wait()

    def wait(self) -> None:
        try:
            self.proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"receiver {self.args} did not stop on SIGTERM") from None
        finally:
            self._drainer.join(STOP_S)
            assert self.proc.stderr is not None
            self.proc.stderr.close()


def stop_all(receivers: list[tuple[ReceiverProcess, bool]]) -> None:
    """Signal every receiver first, then wait: they shut down side by side."""
    for r, kill in receivers:
        r.signal_stop(kill=kill)
    failures = []
    for r, _ in receivers:
        try:
            r.wait()
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, failures


@pytest.fixture
def receiver_process() -> Iterator[Callable[..., str]]:
    """A fresh `webhook-sim receiver ARGS` subprocess for this test (its counters start at
    zero); returns its base URL. Stopped with SIGTERM after the test; `kill=True` for one the
    test leaves with requests in flight on purpose (SIGTERM would give those the receiver's
    shutdown grace, which nothing measures)."""
    started: list[tuple[ReceiverProcess, bool]] = []

    def start(*args: str, kill: bool = False) -> str:
        r = ReceiverProcess(*args)
        started.append((r, kill))
        return r.url

    yield start
    died = [why for r, _ in started if (why := r.exited())]
    stop_all(started)
    assert not died, died


SHARED_MAX = 6  # receivers kept for sharing at once (the least recently used one goes first)


@pytest.fixture(scope="session")
def _receiver_pool() -> Iterator[collections.OrderedDict[tuple[str, ...], ReceiverProcess]]:
    pool: collections.OrderedDict[tuple[str, ...], ReceiverProcess] = collections.OrderedDict()
    yield pool
    stop_all([(r, False) for r in pool.values()])


@pytest.fixture
def shared_receiver(
    _receiver_pool: collections.OrderedDict[tuple[str, ...], ReceiverProcess],
) -> Iterator[Callable[..., str]]:
    """Like `receiver_process`, but one subprocess per set of ARGS serves every test (of this
    pytest worker) that asks for the same: for tests that only need something to send to.
    Its counters are reset (DELETE /_stats) before each test gets it; a test that asserts on
    the receiver's process-wide behaviour (its start-up, its stop) takes `receiver_process`."""
    used: list[ReceiverProcess] = []

    def get(*args: str) -> str:
        r = _receiver_pool.get(args)
        if r is None:
            if len(_receiver_pool) >= SHARED_MAX:
                _, oldest = _receiver_pool.popitem(last=False)
                oldest.stop()
            r = _receiver_pool[args] = ReceiverProcess(*args)
        _receiver_pool.move_to_end(args)
        used.append(r)
        request = urllib.request.Request(r.url + "/_stats", method="DELETE")
        with urllib.request.urlopen(request, timeout=STOP_S) as resp:  # loopback only
            assert resp.status == 200
        return r.url

    yield get
    mine = [r for r in used if _receiver_pool.get(r.args) is r]  # not since stopped as oldest
    died = [(r, why) for r in mine if (why := r.exited())]
    for r, _ in died:  # the next test that asks gets a new one
        _receiver_pool.pop(r.args, None)
        r.wait()
    assert not died, [why for _, why in died]
