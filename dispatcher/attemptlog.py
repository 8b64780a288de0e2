"""The attempt log (`--log PATH`): one JSON line per attempt, as it happens.

Each line is one `write()` to a file opened once with O_APPEND: a run killed with SIGKILL keeps
every line written so far, worker processes can share the file (each line lands whole), and
nothing is kept in memory between lines. The last attempt of a notification carries its
`final` outcome; a notification cancelled without a last attempt gets a line of its own.
No secret is written: the auth scheme is named, never valued, and every line is scrubbed.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import outfiles
from .delivery import AttemptResult
from .engine.observer import Observer, Outcome
from .errors import ConfigError
from .payloads import Notification
from .redact import REDACTOR
from .settings import Settings
from .transport.base import without_userinfo

LOG_KIND = "webhook-sim attempt"  # the `log` field of every line: what tells a log from others


def notification_id(note: Notification) -> str:
    """What names a notification across its attempts (a duplicate is one of its own)."""
    return f"{note.process_id}/{note.key}{'/duplicate' if note.duplicate else ''}"


def start(path: Path) -> None:
    """Empty (or create) the log before the run: every sender then appends to it."""
    if outfiles.descriptor(path) is not None:
        return
    target = path.resolve()
    if target.exists() and not target.is_file():
        return  # a FIFO or a device: written to as it is, never emptied (nor blocked on twice)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    except OSError as exc:
        raise ConfigError(f"--log = '{path}': cannot write it ({exc.strerror})") from None
    os.close(fd)


class AttemptLog:
    """An engine observer writing the attempt log; `other` is told everything too."""

    def __init__(self, path: Path, *, url: str, auth: str, other: Observer | None = None) -> None:
        fd = outfiles.descriptor(path)
        self._own = fd is None
        self._fd = os.open(path.resolve(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666) if (
            fd is None) else fd  # fmt: skip
        self._url, self._auth, self._other = url, auth, other
        # A name for each notification that no other shares, even when two carry the same
        # body (cycled --process-ids, --bodies in a load): this sender's pid and a count. Kept
        # only until the notification's final outcome: memory stays flat.
        self._numbers: dict[int, str] = {}
        self._count = itertools.count(1)
        if self._own:  # closed with the log, whoever holds it last (an engine, a check)
            weakref.finalize(self, os.close, self._fd)

    @classmethod
    def of(cls, path: Path, settings: Settings, other: Observer | None = None) -> AttemptLog:
        """The log of a run under `settings`: its URL without userinfo, its auth type's name."""
        return cls(path, url=without_userinfo(settings.url), auth=settings.auth.type, other=other)

    def _write(self, line: dict[str, Any]) -> None:
        scrubbed = REDACTOR.scrub_tree(line)
        if scrubbed.get("body") != line.get("body"):  # replay then sends the masked body
            scrubbed["body_masked"] = True
        data = json.dumps(scrubbed, ensure_ascii=False) + "\n"
        os.write(self._fd, data.encode("utf-8"))

    def _number(self, note: Notification, final: bool) -> str:
        number = self._numbers.get(id(note)) or f"{os.getpid()}-{next(self._count)}"
        if final:
            self._numbers.pop(id(note), None)
        else:
            self._numbers[id(note)] = number
        return number

    def _line(self, note: Notification, attempt: int, final: bool) -> dict[str, Any]:
        now = time.time()
        return {
            "log": LOG_KIND,
            "n": self._number(note, final),
            "time": datetime.fromtimestamp(now, UTC)
            .isoformat(timespec="microseconds")
            .replace("+00:00", "Z"),
            "t_s": round(now, 6),
            "notification": notification_id(note),
            "process_id": note.process_id,
            "key": note.key,
            "duplicate": note.duplicate,
            "reordered": note.reordered,
            "unknown": note.unknown,
            "attempt": attempt,
            "url": self._url,
            "auth": self._auth,
        }

    def on_attempt(
        self, note: Notification, result: AttemptResult, retry_in_s: float | None
    ) -> None:
        line = self._line(note, result.number, final=retry_in_s is None)
        line.update(
            outcome=result.outcome,
            latency_ms=round(result.latency_s * 1000, 3),
            retry_in_s=None if retry_in_s is None else round(retry_in_s, 3),
            body=note.body.decode("utf-8", "replace"),
            response=result.detail,
            final=None if retry_in_s is not None else ("delivered" if result.ok else "exhausted"),
        )
        self._write(line)
        if self._other is not None:
            self._other.on_attempt(note, result, retry_in_s)

    def on_final(self, note: Notification, outcome: Outcome, attempts: int) -> None:
        if outcome == "cancelled":  # the others came with their last attempt
            line = self._line(note, attempts, final=True)
            line.update(outcome="cancelled", latency_ms=None, retry_in_s=None,
                        body=note.body.decode("utf-8", "replace"), response="",
                        final="cancelled")  # fmt: skip
            self._write(line)
        if self._other is not None:
            self._other.on_final(note, outcome, attempts)
