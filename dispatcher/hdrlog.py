"""`--hdr-log PATH`: a run's response times in HdrHistogram's interval log format, which
HdrHistogram's own tools read (HistogramLogProcessor, HistogramLogAnalyzer, `hdrh.log`).

The log (format version 1.3, the one with tags) holds, after its header:

- `Tag=run-response` and `Tag=run-service`: the whole run's response time (from the instant
  each attempt was due: coordinated omission corrected) and service time (request sent to
  answer read), one interval from 0 to the run's duration;
- `Tag=response`: one interval per second of the run, from its start (the shared --start-at
  instant of sharded runs), that second's response times (empty seconds included), so the
  intervals add up to the whole run's.

Timestamps are seconds from `#[BaseTime: ...]`, the run's start (without --start-at: the end
of the run less its duration, to the millisecond or so). Histogram values are microseconds;
Interval_Max is in milliseconds (HistogramLogProcessor: `-outputValueUnitRatio 1000`).
"""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from pathlib import Path

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogWriter

from . import outfiles
from .errors import ConfigError
from .metrics import Metrics, new_histogram

FLAG = "--hdr-log"
FORMAT_VERSION = "1.3"  # tags (hdrh's writer says 1.2, from before them)
_US_PER_MS = 1000.0


def check_target(path: Path | None) -> Path | None:
    """Refuse, before the run, a path the log cannot be written to (one line)."""
    if path is None:
        return None
    if outfiles.to_stdout(path):
        raise ConfigError(f"{FLAG} = '{path}': stdout carries the console: give a file")
    return outfiles.check_target(path, FLAG)


def _payload(encoded: bytes | str) -> str:
    return encoded.decode("ascii") if isinstance(encoded, bytes) else encoded


def _interval(tag: str, start_s: float, length_s: float, histogram: HdrHistogram) -> str:
    # As HdrHistogram's Java writer formats it; hdrh's own floors Interval_Max to a whole unit.
    max_ms = histogram.get_max_value() / _US_PER_MS
    payload = _payload(histogram.encode())
    return f"Tag={tag},{start_s:.3f},{length_s:.3f},{max_ms:.3f},{payload}\n"


def interval_log(metrics: Metrics, start_unix_s: float) -> str:
    """The interval log of `metrics` (a finished run), its clock started at `start_unix_s`."""
    stream = io.StringIO()
    writer = HistogramLogWriter(stream)
    writer.output_comment("[Logged with webhook-sim]")
    writer.output_comment(f"[Histogram log format version {FORMAT_VERSION}]")
    # The same text for both: a reader takes an interval whose start is before StartTime as
    # outside the log (hdrh's output_base_time writes more digits than its StartTime has).
    start = f"{start_unix_s:.3f}"
    when = datetime.fromtimestamp(float(start), UTC).isoformat(timespec="milliseconds")
    writer.output_comment(f"[StartTime: {start} (seconds since epoch), {when}]")
    writer.output_comment(f"[BaseTime: {start} (seconds since epoch)]")
    writer.output_comment("[values in microseconds; Interval_Max in milliseconds]")
    writer.output_legend()
    duration = max(metrics.duration_s, 0.001)
    stream.write(_interval("run-response", 0.0, duration, metrics.response))
    stream.write(_interval("run-service", 0.0, duration, metrics.latency))
    for second in metrics.seconds:
        histogram = new_histogram()
        if second.response is not None:
            histogram.decode_and_add(second.response)
        length = min(1.0, max(duration - second.t, 0.001))
        stream.write(_interval("response", float(second.t), length, histogram))
    return stream.getvalue()


def write_hdr_log(path: Path | None, metrics: Metrics, start_at: float | None = None) -> None:
    """Write the interval log to `path` (checked by `check_target` before the run), if given:
    through `dispatcher.outfiles`, so a device or a symlink's target is never replaced."""
    if path is None:
        return
    start = start_at if start_at is not None else time.time() - metrics.duration_s
    outfiles.write(path, interval_log(metrics, start))
