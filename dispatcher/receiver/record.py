"""`receiver --record PATH`: one JSON line for every request the sandbox receiver answers.

Each line is one `os.write` on a descriptor opened once with O_APPEND, made before the answer
leaves: a receiver killed at any moment keeps a line for every request a client saw answered,
and holds nothing between requests. An existing file is appended to, never replaced (a
restarted receiver goes on with the same record); `-` is stdout, which the receiver leaves free
(its logs go to stderr). The format, field by field, is in the README.

Credentials never reach the file: the values of Authorization, Proxy-Authorization, the API key
header and every header named like a credential are masked, as are credential-named fields of
a query string and of a token request's form; anything else shaped like a credential, or equal
to one this process holds, goes through the one redactor (`dispatcher.redact`).
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

from .. import outfiles
from ..credentials import is_secret_header
from ..errors import ConfigError
from ..quoting import shown
from ..redact import MASK, REDACTOR
from .token import TOKEN_PATH

log = logging.getLogger("webhook_sim.receiver")

FORM = "application/x-www-form-urlencoded"
# Form and query fields whose values are credentials though is_secret_header misses the name:
# an authorization code and a signed client assertion can both be exchanged for a token.
_SECRET_FIELDS = frozenset({"code", "assertion", "client_assertion"})
_ERROR_BODY_MAX = 4096  # an error answer's body is read for its reason only below this size


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: the handler was cancelled before it answered
    reason: str | None = None
    flaw: str | None = None

    def as_json(self) -> dict[str, Any]:
        found = {"status": self.status, "reason": self.reason, "flaw": self.flaw}
        return {k: v for k, v in found.items() if v is not None or k == "status"}


def answer_of(response: web.StreamResponse, flaw: str | None) -> Answer:
    """The status of an answer and, for an error, the reason its JSON body gave the client."""
    reason = None
    body = response.body if isinstance(response, web.Response) else None
    if response.status >= 400 and isinstance(body, bytes) and len(body) <= _ERROR_BODY_MAX:
        try:
            error = json.loads(body).get("error")
        except (ValueError, AttributeError):
            error = None
        reason = error if isinstance(error, str) else None
    return Answer(response.status, reason, flaw)


class Recorder:
    """The open record: `write` one request at a time."""

    def __init__(self, fd: int, path: Path, *, owned: bool, secret_headers: Iterable[str]) -> None:
        self.path = path
        self.lines = 0
        self.failed: str | None = None  # why writing stopped
        self._fd: int | None = fd
        self._owned = owned  # opened here (closed here), not stdout or an inherited descriptor
        self._secret_headers = frozenset(name.lower() for name in secret_headers) | {
            "authorization",
            "proxy-authorization",
        }

    @classmethod
    def open(cls, path: Path, secret_headers: Iterable[str] = ()) -> Recorder:
        fd = outfiles.descriptor(path)
        if fd is not None:
            return cls(fd, path, owned=False, secret_headers=secret_headers)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
        try:
            # A symlink is followed, a device or FIFO written to: nothing is ever replaced.
            fd = os.open(path, flags, 0o666)
        except OSError as exc:
            raise ConfigError(
                f"--record = {shown(path)}: cannot open it ({exc.strerror})"
            ) from None
        return cls(fd, path, owned=True, secret_headers=secret_headers)

    def as_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "lines": self.lines, "failed": self.failed}

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and self._owned:
            os.close(fd)

    def write(
        self, request: web.BaseRequest, arrived: float, body: bytes | None, answer: Answer
    ) -> None:
        """Append the line for one answered request (`body`: None when it was not read)."""
        if self._fd is None or self.failed is not None:
            return
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(arrived, UTC)
            .isoformat(timespec="microseconds")
            .replace("+00:00", "Z"),
            "t_s": round(arrived, 6),
            **_source(request),
            "method": request.method,
            "path": _masked_path(request.raw_path),
            "headers": self._headers(request.raw_headers),
            **_body(body, request.path == TOKEN_PATH, request.content_type),
            "answer": answer.as_json(),
        }
        # ASCII: a line is valid UTF-8 and JSON whatever bytes the client sent.
        data = (json.dumps(line, separators=(",", ":")) + "\n").encode("ascii")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            # Serving goes on (its answers do not depend on the record); /_stats says so.
            self.failed = exc.strerror or str(exc)
            log.error(
                "--record stopped: cannot write %s (%s) after %d lines",
                self.path,
                self.failed,
                self.lines,
            )
            return
        self.lines += 1

    def _headers(self, raw: Iterable[tuple[bytes, bytes]]) -> list[list[str]]:
        pairs = []
        for raw_name, raw_value in raw:
            name = raw_name.decode("utf-8", "backslashreplace")
            secret = name.lower() in self._secret_headers or is_secret_header(name)
            value = (
                MASK if secret else REDACTOR.scrub(raw_value.decode("utf-8", "backslashreplace"))
            )
            pairs.append([name, value])
        return pairs


def _source(request: web.BaseRequest) -> dict[str, Any]:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    if isinstance(peer, tuple) and len(peer) >= 2:
        return {"source": str(peer[0]), "source_port": peer[1]}
    return {"source": request.remote, "source_port": None}


def _secret_field(name: str) -> bool:
    return is_secret_header(name) or name.lower() in _SECRET_FIELDS


def masked_form(text: str) -> str:
    """A query string or url-encoded form with the values of credential-named fields masked,
    every other byte kept."""
    pairs = text.split("&")
    for i, pair in enumerate(pairs):
        name, eq, _ = pair.partition("=")
        if eq and _secret_field(unquote_plus(name)):
            pairs[i] = f"{name}={MASK}"
    return "&".join(pairs)


def _masked_path(raw_path: str) -> str:
    path, question, query = raw_path.partition("?")
    return REDACTOR.scrub(path + question + masked_form(query) if question else path)


def _body(body: bytes | None, token_request: bool, content_type: str) -> dict[str, Any]:
    if body is None:
        return {"body_omitted": "not read: answered before the body had arrived"}
    if token_request and body and content_type != FORM:
        # Only a form's fields can be told apart: any other body may be a credential whole.
        return {"body_omitted": f"a token request's body that is not a form ({FORM})"}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        if token_request:  # its fields cannot be read, so neither can their names be
            return {"body_omitted": "a token request's body that is not UTF-8"}
        return {"body_base64": base64.b64encode(body).decode("ascii")}
    if token_request:
        text = masked_form(text)
    scrubbed = REDACTOR.scrub(text)
    if scrubbed != text:
        return {"body": scrubbed, "body_masked": True}
    return {"body": text}
