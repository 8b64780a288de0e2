"""The URLs webhook-sim calls, checked before any run: http(s), absolute, a host the resolver
will take, and never credentials in the userinfo (they would be echoed in every message)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator
from yarl import URL

# A URL's userinfo: between "//" and the last "@" of the authority (RFC 3986 section 3.2).
_USERINFO = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.\-]*:)?//)[^/?#\\]*@")
URL_KEYS = frozenset({"url", "token_url"})


def redact_url(text: str) -> str:
    """The URL with any userinfo replaced by `***`, so a password never reaches a message."""
    return _USERINFO.sub(lambda m: f"{m.group(1)}***@", text, count=1)


def _http_url(value: str, *, credentials_hint: str | None) -> str:
    refusal = "credentials in the URL are not allowed" + (
        f" (pass them as {credentials_hint})" if credentials_hint else ""
    )
    # Refused before parsing, so no parser's message can quote the password.
    if _USERINFO.match(value):
        raise ValueError(refusal)
    if re.search(r"[\x00-\x20\x7f]", value):
        raise ValueError("must not contain spaces or control characters")
    try:
        url = URL(value)
        host = url.raw_host
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a URL ({' '.join(str(exc).split())})") from None
    if url.scheme not in ("http", "https") or not host:
        raise ValueError("must be an absolute http:// or https:// URL")
    if url.raw_user or url.raw_password:
        raise ValueError(refusal)
    _check_host(host)
    return value


def _check_host(host: str) -> None:
    """DNS limits, checked here because the resolver's IDNA codec fails on them mid-run."""
    if ":" in host or re.fullmatch(r"[0-9.]+", host):
        return  # an IP address: yarl has parsed it
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or any(not 1 <= len(label) <= 63 for label in labels):
        raise ValueError(
            "the host name is not valid (labels of 1 to 63 characters, 253 characters in all)"
        )


def _receiver_url(value: str) -> str:
    return _http_url(value, credentials_hint="--basic USER:PASS or auth.basic")


def _token_url(value: str) -> str:
    return _http_url(value, credentials_hint="--client-id and --client-secret")


def validate_url(value: str) -> str:
    """An http(s) URL webhook-sim calls other than the receiver (--platform, --verify-url)."""
    return _http_url(value, credentials_hint=None)


HttpUrl = Annotated[str, AfterValidator(_receiver_url)]
TokenUrl = Annotated[str, AfterValidator(_token_url)]
