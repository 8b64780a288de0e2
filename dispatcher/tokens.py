"""Bearer tokens handed out by a mock: the sandbox receiver's OAuth2 provider and platform mode.

Expiry runs on the monotonic clock, so a token's lifetime does not jump with the wall clock.
Memory is bounded: expired tokens are swept as new ones are issued, and beyond `max_live`
live tokens the oldest quarter is dropped (a client that asks for a token per request must not
grow the mock without limit; a dropped token then gets "unknown token").
"""

from __future__ import annotations

import secrets
import time

MAX_LIVE_TOKENS = 100_000


class TokenStore:
    def __init__(self, max_live: int = MAX_LIVE_TOKENS) -> None:
        self.max_live = max_live
        # Insertion order is issue order: the first entry is the oldest token.
        self._expiry: dict[str, float] = {}
        self._sweep_at = min(1024, max_live)

    def issue(self, ttl_s: float) -> str:
        now = time.monotonic()
        if len(self._expiry) >= self._sweep_at:
            self._sweep(now)
        token = secrets.token_urlsafe(24)
        self._expiry[token] = now + ttl_s
        return token

    def _sweep(self, now: float) -> None:
        live = {t: e for t, e in self._expiry.items() if e >= now}
        if len(live) >= self.max_live:
            # Down to three quarters, so the next sweep is a quarter of max_live issues away;
            # rebuilt rather than popped from the front, which leaves a dict slow to iterate.
            keep = max(1, self.max_live * 3 // 4)
            live = dict(list(live.items())[-keep:])
        self._expiry = live
        # Sweep again once the store has doubled: each sweep's cost is paid by as many issues.
        self._sweep_at = min(max(1024, 2 * len(live)), self.max_live)

    def __len__(self) -> int:
        return len(self._expiry)

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
