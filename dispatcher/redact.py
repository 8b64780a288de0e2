"""Secrets never leave: one process-wide list of every secret a run holds, and the one function
that masks them in any text before it reaches a console, a log, a report or an error message.

Secrets come from the settings (passwords, API keys, client secrets, secret headers), from the
command line even when it fails validation, and from the run itself (the OAuth2 access tokens
the sender obtains: a receiver may echo one back in its error body). Each is looked for as
written and as a receiver may echo it: JSON-escaped, percent- or form-encoded, HTML-escaped.
Besides the known values, anything shaped like a credential (`Bearer ...`, `Basic ...`,
`Authorization: ...`) is masked too, so a token never seen here (say, one the receiver made
up) does not leak either.
"""

from __future__ import annotations

import html
import io
import json
import re
import threading
import urllib.parse
from collections.abc import Iterable
from typing import Any, TextIO

MASK = "***"
# A secret shorter than this is not searched for in free text: masking every "a" in a report
# would garble it. Such a secret is still masked wherever it is stored as a field.
MIN_LENGTH = 3
_TOKEN = r"[A-Za-z0-9._~+/=-]"
_SHAPED = re.compile(
    rf"(?i:((?:proxy-)?authorization\"?\s*[:=]\s*\"?)(?!\s*\*\*\*)(?:[a-z]+\s+)?{_TOKEN}+)"
    # Schemes as HTTP writes them, and long enough to be a credential: "--basic USER:PASS" and
    # "Basic auth" in a sentence are not.
    rf"|((?<![\w-])(?:Bearer|Basic)\s+)(?!\*\*\*){_TOKEN}{{8,}}"
)


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        self._lock = threading.Lock()  # tokens are learned on the event loop, read everywhere

    def add(self, *values: str | None) -> None:
        known = {v for v in values if v and len(v) >= MIN_LENGTH}
        fresh = {form for v in known for form in _forms(v)} - self._values
        if not fresh:
            return
        with self._lock:
            self._values |= fresh
            # Longest first, so that "user:pass" is replaced whole before "pass" is looked for.
            self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    def add_all(self, values: Iterable[str | None]) -> None:
        self.add(*values)

    @property
    def margin(self) -> int:
        """How far past a cut to look so that no secret (or token shaped like one) straddles it."""
        return max(256, len(self._ordered[0]) if self._ordered else 0)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._ordered = ()

    def scrub(self, text: str) -> str:
        text = _SHAPED.sub(_mask_shaped, text)
        for value in self._ordered:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def scrub_tree(self, value: Any) -> Any:
        """The same for every string (keys included) of a JSON-ready document."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self.scrub(str(k)): self.scrub_tree(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub_tree(v) for v in value]
        return value


def _forms(secret: str) -> set[str]:
    """A secret as written, and as a receiver may echo it back: inside a JSON string, in a URL
    (percent-encoded, form-encoded) or in HTML."""
    return {
        secret,
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret, safe=""),
        html.escape(secret),
    }


def _mask_shaped(match: re.Match[str]) -> str:
    return (match.group(1) or match.group(2)) + MASK


REDACTOR = Redactor()


class ScrubbingStream(io.TextIOBase):
    """A text stream that masks secrets on the way out: the console writes through it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(REDACTOR.scrub(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8")
