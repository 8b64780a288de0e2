"""Credentials as values: one parser for each spec the platform's console takes (Basic
`USER:PASS`, an API key `HEADER:VALUE` or `VALUE`, an OAuth2 client), shared by the sender, the
sandbox receiver, the checks and redaction, so that what is sent, what is expected and what is
masked can never disagree.

A parse error names the header at most, never the secret: the whole spec is one. Nothing here
speaks HTTP, so the receiver can use it without loading any client code.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass, field

from .headers import (
    CONTROL_PROBLEM,
    FRAMING_LIST,
    has_control,
    is_framing,
    is_header_name,
    value_problem,
)
from .quoting import shown

BASIC = "Basic "
# The header an API key given as VALUE alone goes in, with no scheme added, as the console does.
DEFAULT_API_KEY_HEADER = "Authorization"


def same_secret(given: str, expected: str) -> bool:
    """Whether a presented secret (a header's value, a password) is the expected one, compared
    in constant time whatever a stranger sent."""
    # Bytes: hmac.compare_digest refuses str with non-ASCII characters, which a caller can send.
    return hmac.compare_digest(_bytes(given), _bytes(expected))


def _bytes(text: str) -> bytes:
    # surrogatepass: aiohttp decodes a header's undecodable bytes to surrogates, and a
    # command-line argument may carry them too.
    return text.encode("utf-8", "surrogatepass")


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    """HTTP Basic (RFC 7617): a user and a password that may itself hold colons."""

    user: str
    password: str = field(repr=False)

    @property
    def spec(self) -> str:
        return f"{self.user}:{self.password}"

    def token(self) -> str:
        """The base64 part of the Authorization header."""
        return _base64(self.spec)

    def header(self) -> str:
        return BASIC + self.token()

    def secrets(self) -> tuple[str, ...]:
        """Every form the secret travels or may be echoed in, for masking."""
        return (self.spec, self.password, self.token())


def parse_basic(spec: str) -> BasicCredentials:
    """`user:pass`, split on the first colon (a password may hold more)."""
    user, sep, password = spec.partition(":")
    if not sep:
        raise ValueError("must be USER:PASS")
    return BasicCredentials(user, password)


def decode_basic_header(value: str) -> BasicCredentials | None:
    """The credentials of an incoming `Authorization: Basic ...`, or None when the header is not
    Basic or is malformed (not base64, not UTF-8, no colon): a stranger's header never raises."""
    if not value.startswith(BASIC):
        return None
    try:
        decoded = base64.b64decode(value[len(BASIC) :], validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII input
        return None
    user, sep, password = decoded.partition(":")
    return BasicCredentials(user, password) if sep else None


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key and the header it travels in."""

    header: str
    value: str = field(repr=False)
    named: bool = True  # the spec named the header (False: VALUE alone, in Authorization)

    def secrets(self) -> tuple[str, ...]:
        return (self.value,)

    def masked(self) -> str:
        """The spec for a report: `X-API-Key:***`, or `***` when no header was named."""
        return f"{self.header}:***" if self.named else "***"


def parse_api_key(spec: str) -> ApiKey:
    """`X-API-Key:abc` → header X-API-Key, value abc: split on the first colon only, spaces
    around the colon allowed (`X-API-Key: abc`); `abc` alone goes in Authorization, with no
    scheme added. Refused (ValueError) when the HTTP client could not send it as given."""
    if has_control(spec):
        raise ValueError(f"the value {CONTROL_PROBLEM}")
    header, sep, _ = spec.partition(":")
    if sep and not is_header_name(header.strip()):
        raise ValueError(f"header name {shown(header)} is not a valid header name (HEADER:VALUE)")
    key = _api_key(spec)
    if is_framing(key.header):
        raise ValueError(f"{key.header} cannot carry an API key (not allowed: {FRAMING_LIST})")
    if not key.value:
        raise ValueError(f"header {key.header} has an empty value (HEADER:VALUE, or VALUE alone)")
    problem = value_problem(key.value)
    if problem:
        raise ValueError(f"the value {problem}")
    return key


def _api_key(spec: str) -> ApiKey:
    header, sep, value = spec.partition(":")
    if not sep:
        return ApiKey(DEFAULT_API_KEY_HEADER, spec.strip(), named=False)
    return ApiKey(header.strip(), value.strip())


@dataclass(frozen=True, slots=True)
class OAuth2Client:
    """An OAuth2 client's credentials (RFC 6749 section 2.3.1)."""

    client_id: str
    client_secret: str = field(repr=False)

    def secrets(self) -> tuple[str, ...]:
        return (self.client_secret,)

    def matches(self, other: OAuth2Client) -> bool:
        """Both parts equal, compared in constant time (a token endpoint's check)."""
        # Both compared, always: stopping at a wrong id would tell ids apart by timing.
        same_id = same_secret(other.client_id, self.client_id)
        return same_secret(other.client_secret, self.client_secret) and same_id


Credential = BasicCredentials | ApiKey | OAuth2Client


def secrets_in_spec(value: str) -> list[str]:
    """Every string a credential given on the command line or in the environment may show up
    as, whether or not it parses (it is masked before validation runs): the value itself, its
    part after the first colon (a Basic password, an API key's or a secret header's value),
    and its Basic encoding."""
    found = [value, value.partition(":")[2].strip()]
    found += [_base64(v) for v in found if v.partition(":")[2]]
    return [v for v in found if v]


def _base64(spec: str) -> str:
    return base64.b64encode(_bytes(spec)).decode("ascii")


# The same splits without the checks, for specs that were checked when the settings were built
# (the sender's auth strategies, the demo); a test hands a strategy a forged one on purpose.


def split_basic(spec: str) -> tuple[str, str]:
    """`user:pass` → (`user`, `pass`); no colon → (`user`, ``)."""
    user, _, password = spec.partition(":")
    return user, password


def basic_header(spec: str) -> str:
    return BASIC + _base64(spec)


def split_api_key(spec: str) -> tuple[str, str]:
    """parse_api_key's (header, value), unchecked."""
    key = _api_key(spec)
    return key.header, key.value


# Headers whose values are credentials whatever the user calls them secret or not.
_SECRET_HEADER_WORDS = ("auth", "token", "secret", "key", "signature", "password", "cookie")


def is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_HEADER_WORDS)
