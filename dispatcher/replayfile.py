"""What `replay` re-sends: the notifications an attempt log (`--log`) or a receiver recording
(`receiver --record`) holds, selected by how they ended, in the order they were first sent.

A log's notification ended delivered, exhausted, or cancelled (or has no final line: the run
was killed first, and it counts as failed). A recording has no attempts: requests with the same
body are one notification (its retries), delivered once one of them was answered 2xx.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .attemptlog import LOG_KIND
from .errors import ConfigError
from .overrides import read_lines

Only = Literal["failed", "exhausted", "delivered", "all"]
ONLY: tuple[Only, ...] = ("failed", "exhausted", "delivered", "all")
# Requests of a recording that are not notifications.
_NOT_NOTIFICATIONS = ("/oauth/", "/_stats", "/processes/")


@dataclass(frozen=True)
class Selected:
    kind: Literal["attempt log", "receiver recording"]
    bodies: tuple[bytes, ...]
    at_s: tuple[float, ...]  # when each was first sent (log) or received (recording), unix s
    url: str | None  # the URL the log's run sent to (a recording knows only paths)
    seen: int  # notifications in the file, before selecting


def _objects(source: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in read_lines(source, "replay"):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):
            if number == 1:
                raise ConfigError(f"{source}: not an attempt log (--log) or a receiver "
                                  "recording (--record): line 1 is not JSON") from None  # fmt: skip
            raise ConfigError(f"{source}:{number}: not JSON (a line cut short? the others "
                              "are fine: remove it)") from None  # fmt: skip
        if not isinstance(data, dict):
            raise ConfigError(f"{source}:{number}: a JSON {type(data).__name__}, not an object")
        yield number, data


def _wanted(final: str | None, only: Only) -> bool:
    if only == "all":
        return True
    if only == "failed":
        return final != "delivered"
    return final == only


def read_replay(source: Path, only: Only) -> Selected:
    """The notifications of `source` that `only` selects; one line for a file that is neither
    kind, or a line that does not belong."""
    lines = _objects(source)
    first = next(lines, None)
    if first is None:
        raise ConfigError(f"{source}: empty: no notification to replay")
    _, head = first
    if head.get("log") == LOG_KIND:
        return _from_log(source, [first, *lines], only)
    if {"method", "path", "answer"} <= head.keys():
        return _from_recording(source, [first, *lines], only)
    raise ConfigError(f"{source}: not an attempt log (--log) or a receiver recording (--record): "
                      f"line 1 has {', '.join(sorted(head)[:6]) or 'no field'}")  # fmt: skip


def _from_log(source: Path, lines: list[tuple[int, dict[str, Any]]], only: Only) -> Selected:
    found: dict[str, list[Any]] = {}  # notification -> [first sent, body, final]
    url = None
    for number, line in lines:
        try:
            key = str(line.get("n") or line["notification"])
            body, final = line["body"], line.get("final")
            sent = float(line["t_s"]) - float(line.get("latency_ms") or 0) / 1000
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{source}:{number}: not a line of an attempt log (--log)") from None
        url = url or line.get("url")
        entry = found.setdefault(key, [sent, body, None])
        entry[0] = min(entry[0], sent)
        entry[2] = final or entry[2]
    chosen = sorted((v for v in found.values() if _wanted(v[2], only)), key=lambda v: v[0])
    return Selected("attempt log", tuple(str(v[1]).encode() for v in chosen),
                    tuple(v[0] for v in chosen), url, len(found))  # fmt: skip


def _from_recording(source: Path, lines: list[tuple[int, dict[str, Any]]], only: Only) -> Selected:
    """A recording's notifications: the same body sent again (a retry) is the same
    notification, delivered once any request of it got a 2xx."""
    found: dict[str, list[Any]] = {}  # body -> [first received, delivered]
    for number, line in lines:
        path = str(line.get("path", ""))
        if line.get("method") != "POST" or path.startswith(_NOT_NOTIFICATIONS):
            continue
        if "body" not in line:
            continue  # not received whole (413, 408): nothing to send again
        status = (line.get("answer") or {}).get("status")
        try:
            at, body = float(line["t_s"]), str(line["body"])
        except (KeyError, TypeError, ValueError):
            problem = f"{source}:{number}: not a line of a receiver recording"
            raise ConfigError(problem) from None
        entry = found.setdefault(body, [at, False])
        entry[1] = entry[1] or (isinstance(status, int) and 200 <= status < 300)
    chosen = sorted(
        ((at, body) for body, (at, delivered) in found.items()
         if _wanted("delivered" if delivered else "exhausted", only)),
    )  # fmt: skip
    return Selected("receiver recording", tuple(b.encode() for _, b in chosen),
                    tuple(t for t, _ in chosen), None, len(found))  # fmt: skip
