"""The JWT-bearer assertion integrators sign to get an API token (contract: "The platform API's
own authentication"). Checked for structure, signature, claims and expiry; a pure function of
the token, the keys and the time.

The signature is verified when the mock is given the service account's public key(s)
(`platform --service-account-key`), as the real platform does; without any, only the claims
are, and an app that passes here can still fail on the real platform for a bad key.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..receiver.validate import parse_json, printable
from .keys import ServiceAccountKey, signature_verifies

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLAIMS = frozenset({"iss", "aud", "scope", "iat", "exp"})
MAX_LIFETIME_S = 3600
CLOCK_SKEW_S = 60
# An RS256 JWT with a 4096-bit key and these five claims is under 1,500 characters.
MAX_ASSERTION_CHARS = 16 * 1024
# Matched with fullmatch: with re.match, `$` also matches before a trailing newline.
_ISSUER = re.compile(r"[^@\s]+@[^@.\s]+\.iam\.acesso\.io")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class InvalidAssertion(ValueError):
    """Why the assertion is refused; sent back as the error description."""


@dataclass(frozen=True)
class Assertion:
    issuer: str
    audience: str
    issued_at: int
    expires_at: int
    verified: bool  # the signature was checked against a service-account key


def _bytes(part: str, what: str) -> bytes:
    # Strict base64url: the standard decoder skips characters outside the alphabet.
    if not _B64URL.fullmatch(part):
        raise InvalidAssertion(f"the JWT {what} is not base64url-encoded")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise InvalidAssertion(f"the JWT {what} is not base64url-encoded") from None


def _segment(part: str, what: str) -> dict[str, Any]:
    try:
        value = parse_json(_bytes(part, what))
    except ValueError as exc:
        raise InvalidAssertion(f"the JWT {what} is not base64url-encoded JSON ({exc})") from None
    if not isinstance(value, dict):
        raise InvalidAssertion(f"the JWT {what} is not a JSON object")
    return value


def check_assertion(
    token: str,
    *,
    now: float,
    audience: str | None = None,
    keys: Sequence[ServiceAccountKey] = (),
) -> Assertion:
    """The assertion's claims, or InvalidAssertion saying why it is refused. With `keys`, the
    signature must verify with one of them before any claim is looked at."""
    if len(token) > MAX_ASSERTION_CHARS:
        raise InvalidAssertion(f"the assertion is longer than {MAX_ASSERTION_CHARS} characters")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise InvalidAssertion("the assertion must be a signed JWT: header.claims.signature")
    header, claims = _segment(parts[0], "header"), _segment(parts[1], "claims")
    if header.get("alg") != "RS256":
        alg = printable(repr(header.get("alg")), 40)
        raise InvalidAssertion(f"the JWT must be signed with RS256, not {alg}")
    if keys:
        kid = header.get("kid")
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
        signature = _bytes(parts[2], "signature")
        if not signature_verifies(keys, signing_input, signature, kid if isinstance(kid, str)
                                  else None):  # fmt: skip
            raise InvalidAssertion(
                "the signature does not verify with any configured service-account key"
            )
    extra = sorted(set(claims) - CLAIMS)
    if extra:
        raise InvalidAssertion(f"unexpected claim(s) {', '.join(extra)}: only {sorted(CLAIMS)}")
    missing = sorted(CLAIMS - set(claims))
    if missing:
        raise InvalidAssertion(f"missing claim(s) {', '.join(missing)}")
    iss, aud, scope, iat, exp = (claims[k] for k in ("iss", "aud", "scope", "iat", "exp"))
    if not isinstance(iss, str) or not _ISSUER.fullmatch(iss):
        raise InvalidAssertion(
            f"iss {printable(repr(iss))} must be <account>@<tenant>.iam.acesso.io"
        )
    if not isinstance(aud, str) or not aud or (audience is not None and aud != audience):
        raise InvalidAssertion(f"aud {printable(repr(aud))} must be the identity host" + (
            f" ({audience})" if audience else ""))  # fmt: skip
    if scope != "*":
        raise InvalidAssertion(f'scope must be "*", not {printable(repr(scope))}')
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in (iat, exp)):
        raise InvalidAssertion("iat and exp must be integer seconds since the epoch")
    if exp - iat > MAX_LIFETIME_S:
        raise InvalidAssertion("exp may be at most one hour after iat")
    if exp <= iat:
        raise InvalidAssertion("exp must be after iat")
    if iat > now + CLOCK_SKEW_S:
        raise InvalidAssertion("iat is in the future")
    if exp <= now:
        raise InvalidAssertion("the assertion has expired")
    return Assertion(iss, aud, iat, exp, verified=bool(keys))
