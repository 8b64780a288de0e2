"""The secrets a run's settings hold, found by the same parsers that send them, for scrubbing
text webhook-sim did not write (a receiver may echo a header back)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr

from ..credentials import Credential, is_secret_header, parse_api_key, parse_basic
from ..redact import MIN_LENGTH, REDACTOR
from .models import AuthSettings, Settings


def secret_values(auth: AuthSettings) -> tuple[str, ...]:
    """Every secret string this auth config holds, in every form it travels in."""
    values = [*_secrets(parse_basic, auth.basic), *_secrets(parse_api_key, auth.api_key)]
    if auth.client_secret is not None:
        values.append(auth.client_secret.get_secret_value())
    # Longest first, so that "user:pass" is replaced whole before "pass" is looked for.
    return tuple(sorted((v for v in values if v), key=len, reverse=True))


def _secrets(parse: Callable[[str], Credential], spec: SecretStr | None) -> tuple[str, ...]:
    if spec is None:
        return ()
    text = spec.get_secret_value()
    try:
        return parse(text).secrets()
    except ValueError:
        # Not in its kind's shape, so never sent (auth.type names another kind), but a secret.
        return (text,)


def secrets_of(settings: Settings) -> tuple[str, ...]:
    """Every secret of a run's settings: credentials, secret headers, credential-like headers."""
    headers = [v for n, v in settings.headers if is_secret_header(n)]
    headers += [v for _, v in settings.secret_headers]
    return secret_values(settings.auth) + tuple(v for v in headers if v)


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    # As in REDACTOR: a one- or two-character secret is not searched for in free text.
    for value in secrets:
        if len(value) >= MIN_LENGTH:
            text = text.replace(value, "***")
    return REDACTOR.scrub(text)
