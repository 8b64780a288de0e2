"""`--metrics-port PORT`: a run's live figures in Prometheus' text exposition format, served
while it goes, for Prometheus (and Grafana behind it) to scrape.

What is served is the last *published* picture of the run, never the engine's live objects:
the engine runs on its own thread (or in worker processes) and the HTTP server on another, so
the loop takes a copy every `EVERY_S` (`publishing`), and a workers' parent publishes the
figures its workers send it, added up (`progress`). Both only ever grow, so every counter
served only grows; the run's final figures are published before the server stops.

Served with prometheus_client, the standard Python client: its text format, its HTTP server,
its custom-collector interface (`Collector.collect`).
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from . import __version__, metricsserver
from .errors import ConfigError
from .metrics import Metrics
from .signals import SIGNALS

if TYPE_CHECKING:
    from hdrh.histogram import HdrHistogram

    from .engine import Engine

T = TypeVar("T")
EVERY_S = 0.5  # how stale a scrape may be: the progress displays' own period
PREFIX = "webhook_sim"
FLAG = "--metrics-port"

# Seconds. Prometheus' default buckets start at 5 ms; a receiver on a LAN answers in less.
BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
             10.0, 30.0)  # fmt: skip


def buckets(histogram: HdrHistogram, bounds_s: Iterable[float] = BUCKETS_S) -> tuple[
    list[tuple[str, int]], float
]:  # fmt: skip
    """An HDR histogram (microseconds) as Prometheus buckets: cumulative counts `le` each bound,
    then `+Inf`, and the sum in seconds. A recorded value is counted by the lowest value of its
    HDR bucket (within 0.1%), so a value recorded exactly at a bound is `le` that bound.

    Read off the counts array in one pass (about 7 ms for a run's histogram), not with hdrh's
    recorded-value iterator (about 90 ms): a scrape runs in the sender's own process."""
    counts = list(histogram.counts)
    cumulative = list(itertools.accumulate(counts))
    last = len(counts) - 1
    out = [
        (_le(bound), cumulative[min(histogram.get_counts_array_index(round(bound * 1e6)), last)])
        for bound in bounds_s
    ]
    out.append(("+Inf", cumulative[-1]))
    total_us = sum(histogram.get_value_from_index(i) * n for i, n in enumerate(counts) if n)
    return out, total_us / 1e6


def _le(bound: float) -> str:
    return repr(bound)  # "0.0005", "1.0": Prometheus' own float spelling


def families(m: Metrics, command: str) -> list[Any]:
    """The metric families served for one published picture of a run."""
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        InfoMetricFamily,
    )

    def counter(name: str, doc: str, value: int) -> CounterMetricFamily:
        return CounterMetricFamily(f"{PREFIX}_{name}", doc, value=value)

    def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"{PREFIX}_{name}", doc, value=value)

    final = CounterMetricFamily(
        f"{PREFIX}_notifications_final", "Notifications that reached their final outcome.",
        labels=["outcome"],
    )  # fmt: skip
    for outcome, value in (("delivered", m.delivered), ("exhausted", m.exhausted),
                           ("cancelled", m.cancelled)):  # fmt: skip
        final.add_metric([outcome], value)
    attempts = CounterMetricFamily(
        f"{PREFIX}_attempts", "Attempts by outcome: the HTTP status, or the error kind.",
        labels=["outcome"],
    )  # fmt: skip
    for outcome, value in sorted(m.by_outcome.items()):
        attempts.add_metric([outcome], value)
    latency = []
    for name, histogram, doc in (
        ("response_time_seconds", m.response, "From the instant each attempt was due to its "
         "answer (coordinated omission corrected)."),
        ("service_time_seconds", m.latency, "From each request sent to its answer read."),
    ):  # fmt: skip
        bucket_counts, total = buckets(histogram)
        family = HistogramMetricFamily(f"{PREFIX}_{name}", doc, labels=[])
        family.add_metric([], bucket_counts, total)
        latency.append(family)
    info = InfoMetricFamily(f"{PREFIX}_run", "The run being served.")
    info.add_metric([], {"version": __version__, "command": command})
    return [
        info,
        counter("notifications_scheduled", "Notifications scheduled.", m.scheduled),
        final,
        attempts,
        counter("requests", "HTTP requests that carried a notification.", m.requests_total),
        counter("arrivals", "First attempts started.", m.arrivals),
        gauge("in_flight", "Attempts in flight.", m.in_flight),
        gauge("in_flight_limit", "The adaptive throttle's in-flight limit.", m.limit),
        gauge("in_flight_cap", "The configured most simultaneous sends.", m.cap),
        gauge("retries_waiting", "Notifications waiting for their next attempt.",
              m.retries_waiting),
        *latency,
    ]  # fmt: skip


class _Picture:
    """One published picture of a run: never changed but for `final`; its families are
    rendered by the first scrape that reads it, and kept for the next ones."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.final = False
        self.families: list[Any] | None = None


class _Collector:
    """What the registry asks on each scrape (on the server's threads): the last picture.
    Pictures are replaced whole, so a scrape never sees one half written."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.latest: _Picture | None = None
        self.final_served = threading.Event()  # a response with the final figures was sent

    def collect(self) -> Iterator[Any]:
        picture = self.latest
        if picture is None:
            return iter(())
        if picture.families is None:  # two scrapes at once may both render: the same figures
            picture.families = families(picture.metrics, self.command)
        if picture.final:
            metricsserver.mark_final()  # the server tells once this response is written out whole
        return iter(picture.families)


class Exporter:
    """The metrics of one run, published for the server to serve. `Exporter(None)`, the one
    a run without --metrics-port gets, publishes nothing and costs nothing."""

    def __init__(self, collector: _Collector | None, port: int | None = None) -> None:
        self._collector = collector
        self.port = port  # as bound

    def publish(self, m: Metrics) -> None:
        """Serve `m` from now on: the caller never changes it afterwards."""
        if self._collector is not None:
            self._collector.latest = _Picture(m)

    def finish(self) -> None:
        """The picture served now is the run's final one (see `serving`'s linger)."""
        if self._collector is not None and self._collector.latest is not None:
            self._collector.latest.final = True

    def progress(
        self, then: Callable[[Metrics], None] | None = None
    ) -> Callable[[Metrics], None] | None:
        """A workers' parent's progress callback that publishes the added-up figures first."""
        if self._collector is None:
            return then

        def both(m: Metrics) -> None:
            self.publish(m)
            if then is not None:
                then(m)

        return both

    def publishing(self, engine: Engine, work: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
        """`work` (which runs `engine`), with a copy of its figures published every EVERY_S."""
        if self._collector is None:
            return work
        return self._publishing(engine, work)

    async def _publishing(self, engine: Engine, work: Coroutine[Any, Any, T]) -> T:
        from .livefigures import added_up, live_figures

        async def copy_often() -> None:
            while True:
                self.publish(added_up([live_figures(engine.metrics)]))
                await asyncio.sleep(EVERY_S)

        async with asyncio.TaskGroup() as tg:
            copier = tg.create_task(copy_often())
            try:
                return await work
            finally:
                copier.cancel()
                self.publish(engine.metrics)  # the run is over: nothing changes it any more
                self.finish()


def check_port(port: int | None) -> None:
    if port is not None and not 0 <= port <= 65535:
        raise ConfigError(f"{FLAG} {port}: a TCP port 0..65535 (0: any free port)")


def _options(flags: Mapping[str, Any]) -> tuple[int | None, str, float]:
    """--metrics-port, --metrics-host and --metrics-linger, checked before anything runs."""
    port, host, linger = (flags.get(f"metrics_{name}") for name in ("port", "host", "linger"))
    if port is None and (host is not None or linger is not None):
        given = "--metrics-host" if host is not None else "--metrics-linger"
        raise ConfigError(f"{given} needs {FLAG} PORT (it serves nothing without one)")
    check_port(port)
    if linger is not None and not 0 <= linger <= 3600:
        raise ConfigError(f"--metrics-linger {linger:g}: seconds, 0..3600")
    return port, host or "127.0.0.1", linger or 0.0


@contextmanager
def serving(flags: Mapping[str, Any], command: str) -> Iterator[Exporter]:
    """Serve /metrics while the block runs, as the flags say (without --metrics-port: nothing);
    the address is told on stderr, the port as bound (0 picks a free one). At the end, wait up
    to --metrics-linger seconds for a scrape of the run's final figures.
    """
    port, host, linger_s = _options(flags)
    if port is None:
        yield Exporter(None)
        return
    from prometheus_client import CollectorRegistry, make_wsgi_app

    collector = _Collector(command)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)  # a Collector is anything with collect()
    try:
        app = make_wsgi_app(registry)
        server, thread = metricsserver.start(host, port, app, collector.final_served)
    except OSError as exc:
        reason = "address in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise ConfigError(f"{FLAG} {port} (--metrics-host {host}): {reason}") from None
    bound = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"metrics: http://{shown}:{bound}/metrics", file=sys.stderr, flush=True)
    try:
        yield Exporter(collector, bound)
        if linger_s > 0:
            _linger(collector, linger_s)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _linger(collector: _Collector, seconds: float) -> None:
    """Until a scrape has read the final figures, `seconds` have passed, or one more stop
    signal (a run stopped by the first still lingers: its end is what a scrape should see)."""
    print(f"metrics: waiting up to {seconds:g} s for a scrape of the final figures",
          file=sys.stderr, flush=True)  # fmt: skip
    deadline, signals = time.monotonic() + seconds, len(SIGNALS.received)
    while len(SIGNALS.received) == signals and (left := deadline - time.monotonic()) > 0:
        if collector.final_served.wait(min(left, 0.1)):
            return
