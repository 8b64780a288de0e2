"""Auth schemes as small strategies behind one Protocol (the shape of httpx's auth flows).

The engine asks a strategy for headers before each request and tells it when the receiver
answered 401; only OAuth2 has anything to do then.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import TYPE_CHECKING, Protocol

from . import credentials
from .errors import DeliveryError, TokenError
from .redact import REDACTOR
from .settings import AuthSettings
from .transport import Transport

if TYPE_CHECKING:  # authlib is imported when an OAuth2 strategy is built: only OAuth2 needs it
    from authlib.oauth2.rfc6749 import OAuth2Token

# Renew a token this long before the provider says it expires, so that a request never
# leaves with a token that dies on the way; short-lived tokens get a proportional margin.
MAX_LEEWAY_S = 30


class Auth(Protocol):
    async def headers(self, transport: Transport) -> dict[str, str]:
        """Headers that authenticate the next request."""
        ...

    def unauthorized(self, sent: dict[str, str]) -> bool:
        """The receiver answered 401 to `sent`: drop what went stale; True if a resend may help."""
        ...


class NoAuth:
    async def headers(self, transport: Transport) -> dict[str, str]:
        return {}

    def unauthorized(self, sent: dict[str, str]) -> bool:
        return False


class BasicAuth:
    def __init__(self, user_pass: str) -> None:
        self._header = credentials.basic_header(user_pass)

    async def headers(self, transport: Transport) -> dict[str, str]:
        return {"Authorization": self._header}

    def unauthorized(self, sent: dict[str, str]) -> bool:
        return False


class ApiKeyAuth:
    def __init__(self, spec: str) -> None:
        name, value = credentials.split_api_key(spec)
        self._headers = {name: value}

    async def headers(self, transport: Transport) -> dict[str, str]:
        return dict(self._headers)

    def unauthorized(self, sent: dict[str, str]) -> bool:
        return False


class OAuth2ClientCredentials:
    """RFC 6749 section 4.4 with authlib's primitives, over our own aiohttp transport.

    One token serves every concurrent send. The fetch is single-flight: whoever arrives while
    a fetch is under way awaits that same fetch instead of starting another, and a failed fetch
    is reported to everyone who was waiting for it, at once, rather than retried by each.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        client_auth: str = "basic",
    ) -> None:
        from authlib.oauth2.auth import ClientAuth

        self.token_url = token_url
        self._client = ClientAuth(client_id, client_secret, f"client_secret_{client_auth}")
        self._scope = scope
        self._token: OAuth2Token | None = None
        self._renew_at = 0.0
        # The fetch under way: every caller awaits the same one, and all of them learn its
        # outcome in the same turn of the loop (a lock would hand a failure on one by one).
        self._inflight: asyncio.Future[OAuth2Token] | None = None
        self.token_requests = 0

    def _usable(self, token: OAuth2Token | None) -> bool:
        # Not OAuth2Token.is_expired: it rounds expiry to whole wall-clock seconds, which
        # makes a token with a 1 s lifetime look expired on arrival, and jumps with the clock.
        return token is not None and time.monotonic() < self._renew_at

    async def headers(self, transport: Transport) -> dict[str, str]:
        token = await self.token(transport)
        return {"Authorization": f"Bearer {token['access_token']}"}

    async def token(self, transport: Transport) -> OAuth2Token:
        if self._usable(self._token):
            assert self._token is not None
            return self._token
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._refresh(transport))
            self._inflight.add_done_callback(_retrieved)
        # Shielded: one caller cancelled (a stop) must not cancel the fetch the others share.
        return await asyncio.shield(self._inflight)

    async def _refresh(self, transport: Transport) -> OAuth2Token:
        try:
            fetched_at = time.monotonic()
            token = await self._fetch(transport)
            self._token, self._renew_at = token, self._renewal(fetched_at, token)
            return token
        except TokenError:
            self._token = None
            raise
        finally:
            self._inflight = None

    @staticmethod
    def _renewal(fetched_at: float, token: OAuth2Token) -> float:
        try:
            lifetime = float(token["expires_in"])
        except (KeyError, TypeError, ValueError):
            return math.inf  # no stated lifetime: keep it until the receiver says 401
        return fetched_at + lifetime - min(MAX_LEEWAY_S, 0.1 * lifetime)

    def unauthorized(self, sent: dict[str, str]) -> bool:
        if (
            self._token is not None
            and sent.get("Authorization") == f"Bearer {self._token['access_token']}"
        ):
            self._token = None
        return True

    async def _fetch(self, transport: Transport) -> OAuth2Token:
        from authlib.oauth2.rfc6749 import OAuth2Token
        from authlib.oauth2.rfc6749.parameters import prepare_token_request

        self.token_requests += 1
        extra = {"scope": self._scope} if self._scope else {}
        body = prepare_token_request("client_credentials", **extra)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        _, headers, body = self._client.prepare("POST", self.token_url, headers, body)
        try:
            resp = await transport.request("POST", self.token_url, headers=headers, data=body)
        except DeliveryError as exc:
            raise TokenError(f"token endpoint {self.token_url}: {exc.kind}: {exc}") from exc
        try:
            data = json.loads(resp.body)
        except ValueError:
            data = None
        if resp.status != 200 or not isinstance(data, dict) or not data.get("access_token"):
            reason = data.get("error") if isinstance(data, dict) else None
            raise TokenError(
                f"token endpoint {self.token_url} answered {resp.status}"
                + (f" ({reason})" if reason else "")
            )
        if str(data.get("token_type", "bearer")).lower() != "bearer":
            raise TokenError(
                f"token endpoint issued a {data.get('token_type')!r} token, not Bearer"
            )
        # From now on this token is a secret like the others: a receiver may echo it back.
        REDACTOR.add(str(data["access_token"]), str(data.get("refresh_token") or ""))
        return OAuth2Token.from_dict(data)


def _retrieved(fetch: asyncio.Future[OAuth2Token]) -> None:
    """Mark a fetch's failure as seen: if every caller was cancelled, nobody else will."""
    if not fetch.cancelled():
        fetch.exception()


def from_settings(settings: AuthSettings) -> Auth:
    if settings.type == "basic":
        assert settings.basic is not None
        return BasicAuth(settings.basic.get_secret_value())
    if settings.type == "api-key":
        assert settings.api_key is not None
        return ApiKeyAuth(settings.api_key.get_secret_value())
    if settings.type == "oauth2":
        # Guaranteed by AuthSettings' own validation.
        assert settings.token_url is not None
        assert settings.client_id is not None
        assert settings.client_secret is not None
        return OAuth2ClientCredentials(
            settings.token_url,
            settings.client_id,
            settings.client_secret.get_secret_value(),
            scope=settings.scope,
            client_auth=settings.client_auth,
        )
    return NoAuth()
