from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from dispatcher.receiver import ReceiverConfig, RunningReceiver, start_receiver

pytest_plugins = ["tests.reportcheck"]  # every report a test writes must match the schema

StartReceiver = Callable[..., Awaitable[RunningReceiver]]


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


@pytest.fixture
def receiver_process() -> Iterator[Callable[..., str]]:
    """`webhook-sim receiver` as a real subprocess; returns its base URL."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dispatcher.cli", "receiver", "--port", "0", "--quiet", *args],
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, f"receiver did not start: {line!r}"
        return match.group(0)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)
