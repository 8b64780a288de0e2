"""The header names and values a user may configure: one set of rules for `-H`,
`--secret-header` and the header an API key travels in, so that whatever validation lets through
the HTTP client can send as it is.

Every message names the header, never its value: the value may be a credential.
"""

from __future__ import annotations

import re

from .quoting import shown

# RFC 9110 section 5.6.2: a field name is a token.
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Headers that frame the message or the connection: the HTTP client owns them, and a user's
# value would desynchronise the request (Content-Length) or smuggle a second one.
FRAMING_HEADERS = (
    "Content-Length", "Transfer-Encoding", "Host", "Connection", "Upgrade", "TE", "Trailer",
    "Keep-Alive", "Proxy-Connection",
)  # fmt: skip
FRAMING_LIST = ", ".join(FRAMING_HEADERS)
_FRAMING = frozenset(name.lower() for name in FRAMING_HEADERS)
# C0 controls but HTAB (RFC 9110 allows it inside a field value), and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
CONTROL_PROBLEM = "must be one line of visible ASCII (no control characters)"


def is_header_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def is_framing(name: str) -> bool:
    return name.lower() in _FRAMING


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def value_problem(value: str) -> str | None:
    """Why `value` cannot be sent as an HTTP field value, or None if it can."""
    if has_control(value):
        return CONTROL_PROBLEM
    if not value.isascii():
        return "must be one line of ASCII"
    return None


def parse_header(item: str) -> tuple[str, str]:
    """`NAME:VALUE` (one `-H`) → (NAME, VALUE stripped); a ValueError whose message starts with
    the header's name when it cannot be sent."""
    raw_name, sep, value = item.partition(":")
    name = raw_name.strip()
    if not sep or not is_header_name(name) or has_control(raw_name):
        raise ValueError(
            f"{shown(name if sep else item)}: must be NAME:VALUE with a valid header name"
        )
    if is_framing(name):
        raise ValueError(f"{shown(name)}: set by the HTTP client (not allowed: {FRAMING_LIST})")
    problem = value_problem(value)
    if problem:
        raise ValueError(f"{shown(name)}: its value {problem}")
    return name, value.strip()
