"""The JWT-bearer assertion integrators sign to get an API token (contract: "The platform API's
own authentication"). Checked for structure, claims and expiry; a pure function of the token
and the time.

The signature is not verified: the mock does not hold the integrator's public key. Everything
the platform documents about the claims is enforced, so an app that passes here fails on the
real platform only for a bad key.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLAIMS = frozenset({"iss", "aud", "scope", "iat", "exp"})
MAX_LIFETIME_S = 3600
CLOCK_SKEW_S = 60
_ISSUER = re.compile(r"^[^@\s]+@[^@.\s]+\.iam\.acesso\.io$")


class InvalidAssertion(ValueError):
    """Why the assertion is refused; sent back as the error description."""


@dataclass(frozen=True)
class Assertion:
    issuer: str
    audience: str
    issued_at: int
    expires_at: int


def _segment(part: str, what: str) -> dict[str, Any]:
    try:
        padded = part + "=" * (-len(part) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError):
        raise InvalidAssertion(f"the JWT {what} is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise InvalidAssertion(f"the JWT {what} is not a JSON object")
    return value


def check_assertion(token: str, *, now: float, audience: str | None = None) -> Assertion:
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise InvalidAssertion("the assertion must be a signed JWT: header.claims.signature")
    header, claims = _segment(parts[0], "header"), _segment(parts[1], "claims")
    if header.get("alg") != "RS256":
        raise InvalidAssertion(f"the JWT must be signed with RS256, not {header.get('alg')!r}")
    extra = sorted(set(claims) - CLAIMS)
    if extra:
        raise InvalidAssertion(f"unexpected claim(s) {', '.join(extra)}: only {sorted(CLAIMS)}")
    missing = sorted(CLAIMS - set(claims))
    if missing:
        raise InvalidAssertion(f"missing claim(s) {', '.join(missing)}")
    iss, aud, scope, iat, exp = (claims[k] for k in ("iss", "aud", "scope", "iat", "exp"))
    if not isinstance(iss, str) or not _ISSUER.match(iss):
        raise InvalidAssertion(f"iss {iss!r} must be <account>@<tenant>.iam.acesso.io")
    if not isinstance(aud, str) or not aud or (audience is not None and aud != audience):
        raise InvalidAssertion(f"aud {aud!r} must be the identity host" + (
            f" ({audience})" if audience else ""))  # fmt: skip
    if scope != "*":
        raise InvalidAssertion(f'scope must be "*", not {scope!r}')
    if not (isinstance(iat, int) and isinstance(exp, int)):
        raise InvalidAssertion("iat and exp must be integer seconds since the epoch")
    if exp - iat > MAX_LIFETIME_S:
        raise InvalidAssertion("exp may be at most one hour after iat")
    if exp <= iat:
        raise InvalidAssertion("exp must be after iat")
    if iat > now + CLOCK_SKEW_S:
        raise InvalidAssertion("iat is in the future")
    if exp <= now:
        raise InvalidAssertion("the assertion has expired")
    return Assertion(iss, aud, iat, exp)
