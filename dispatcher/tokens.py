"""Bearer tokens handed out by a mock: the sandbox receiver's OAuth2 provider and platform mode.

Expiry runs on the monotonic clock, so a token's lifetime does not jump with the wall clock.
"""

from __future__ import annotations

import secrets
import time


class TokenStore:
    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}

    def issue(self, ttl_s: float) -> str:
        token = secrets.token_urlsafe(24)
        self._expiry[token] = time.monotonic() + ttl_s
        return token

    def problem(self, authorization: str) -> str | None:
        """None when `authorization` carries a live token issued here; else why it does not."""
        if not authorization.startswith("Bearer "):
            return "missing bearer token"
        expiry = self._expiry.get(authorization[7:])
        if expiry is None:
            return "unknown token"
        if expiry < time.monotonic():
            return "expired token"
        return None

    def clear(self) -> None:
        """Forget every token (a key rotation)."""
        self._expiry.clear()
