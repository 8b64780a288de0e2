"""One parser for each credential spec the platform's console takes, shared by the sender, the
checks and redaction (so what is sent and what is masked can never disagree)."""

from __future__ import annotations

import base64


def split_basic(spec: str) -> tuple[str, str]:
    """`user:pass` → (`user`, `pass`), split on the first colon (a password may hold more)."""
    user, _, password = spec.partition(":")
    return user, password


def basic_header(spec: str) -> str:
    return "Basic " + base64.b64encode(spec.encode("utf-8")).decode("ascii")


def split_api_key(spec: str) -> tuple[str, str]:
    """`X-API-Key:abc` → (`X-API-Key`, `abc`), split on the first colon only, spaces around the
    colon allowed (`X-API-Key: abc`); `abc` alone → (`Authorization`, `abc`) with no scheme
    added, as the platform's console does."""
    name, sep, value = spec.partition(":")
    if sep:
        return name.strip(), value.strip()
    return "Authorization", spec.strip()


# Headers whose values are credentials whatever the user calls them secret or not.
_SECRET_HEADER_WORDS = ("auth", "token", "secret", "key", "signature", "password", "cookie")


def is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_HEADER_WORDS)
