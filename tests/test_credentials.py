"""Credential specs: one parser for each kind, and what it hands the sender, the receiver and
redaction; a parse error names the header but never the secret."""

from __future__ import annotations

import base64
import re
import subprocess
import sys

import pytest

from dispatcher.credentials import (
    ApiKey,
    BasicCredentials,
    OAuth2Client,
    basic_header,
    decode_basic_header,
    parse_api_key,
    parse_basic,
    secrets_in_spec,
    split_api_key,
)

SECRET = "s3cr3t-value"


@pytest.mark.parametrize("spec", ["user:pass", "user:pa:ss:word", "user:", ":pass", "ü:é"])
def test_basic_round_trips_through_the_header(spec: str) -> None:
    basic = parse_basic(spec)
    assert basic.spec == spec
    assert decode_basic_header(basic.header()) == basic
    assert basic.header() == "Basic " + base64.b64encode(spec.encode()).decode()
    assert basic.header() == basic_header(spec)


def test_a_password_keeps_its_colons_and_every_form_is_a_secret() -> None:
    basic = parse_basic("integrator:pa:ss")
    assert (basic.user, basic.password) == ("integrator", "pa:ss")
    assert basic.secrets() == ("integrator:pa:ss", "pa:ss", basic.header().removeprefix("Basic "))
    assert "pa:ss" not in repr(basic)


def test_basic_without_a_colon_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="USER:PASS") as info:
        parse_basic(SECRET)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    "header",
    [
        "Basic not-base64!",  # not base64
        "Basic " + base64.b64encode(b"no-colon").decode(),  # no colon
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),  # not UTF-8
        "Basic " + base64.b64encode(b"u:p").decode()[:-1],  # bad padding
        "Basic caf\u00e9",  # not ASCII
        "Bearer " + base64.b64encode(b"u:p").decode(),  # another scheme
        "basic " + base64.b64encode(b"u:p").decode(),  # the scheme only as senders write it
        "",
    ],
)
def test_a_malformed_basic_header_decodes_to_none(header: str) -> None:
    assert decode_basic_header(header) is None


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("X-API-Key:abc", ApiKey("X-API-Key", "abc")),
        ("X-API-Key: abc", ApiKey("X-API-Key", "abc")),
        ("X-API-Key : abc ", ApiKey("X-API-Key", "abc")),
        ("X-API-Key:a:b:c", ApiKey("X-API-Key", "a:b:c")),
        ("abc", ApiKey("Authorization", "abc", named=False)),
        ("Token abc", ApiKey("Authorization", "Token abc", named=False)),
        ("tok\ten", ApiKey("Authorization", "tok\ten", named=False)),
    ],
)
def test_api_key_parses_header_and_value(spec: str, expected: ApiKey) -> None:
    key = parse_api_key(spec)
    assert key == expected
    assert split_api_key(spec) == (expected.header, expected.value)
    assert key.secrets() == (expected.value,)
    assert key.masked() == ("***" if not expected.named else f"{expected.header}:***")
    assert expected.value not in repr(key)


def test_a_space_after_the_colon_leaves_the_value_to_mask() -> None:
    key = parse_api_key("X-API-Key: abc")
    assert (key.header, key.value) == ("X-API-Key", "abc")
    assert "abc" in key.secrets()
    assert "abc" in secrets_in_spec("X-API-Key: abc")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (f"X Key:{SECRET}", "header name 'X Key' is not a valid header name (HEADER:VALUE)"),
        (f"X(Key):{SECRET}", "header name 'X(Key)' is not a valid header name"),
        (f"Content-Length:{SECRET}", "Content-Length cannot carry an API key (not allowed: "),
        (f"host:{SECRET}", "host cannot carry an API key"),
        ("X-Key:  ", "header X-Key has an empty value (HEADER:VALUE, or VALUE alone)"),
        (f"X-Key:{SECRET}\r\nX-Injected: 1", "the value must be one line of visible ASCII"),
        (f"X-Key:{SECRET}\u00e9", "the value must be one line of ASCII"),
    ],
)
def test_a_bad_api_key_names_the_header_never_the_secret(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        parse_api_key(spec)
    assert SECRET not in str(info.value)


def test_the_unchecked_split_still_hands_a_forged_spec_over() -> None:
    # The transport refuses it at send time (tests/test_framing.py); splitting must not raise.
    assert split_api_key("X-Api-Key:abc\r\nX-Injected: 1") == ("X-Api-Key", "abc\r\nX-Injected: 1")


def test_an_oauth2_client_matches_only_itself() -> None:
    client = OAuth2Client("cid", SECRET)
    assert client.matches(OAuth2Client("cid", SECRET))
    assert not client.matches(OAuth2Client("cid", "wrong"))
    assert not client.matches(OAuth2Client("other", SECRET))
    # A stranger's non-ASCII is a mismatch, not a TypeError from hmac.compare_digest.
    assert not client.matches(OAuth2Client("c\u00efd", "s\udcff"))
    assert client.secrets() == (SECRET,)
    assert SECRET not in repr(client)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("user:pass", ["user:pass", "pass", base64.b64encode(b"user:pass").decode()]),
        ("X-Key: abc", ["X-Key: abc", "abc", base64.b64encode(b"X-Key: abc").decode()]),
        ("plain", ["plain"]),
        ("user:", ["user:"]),
    ],
)
def test_secrets_in_a_spec_cover_every_reading(value: str, expected: list[str]) -> None:
    assert secrets_in_spec(value) == expected


def test_the_value_types_are_frozen() -> None:
    basic = BasicCredentials("u", "p")
    with pytest.raises(AttributeError):
        basic.user = "v"  # type: ignore[misc]


def test_the_receiver_loads_no_client_code() -> None:
    """The receiver parses credentials with the sender's parsers but never loads the sender:
    its HTTP client, its auth flows, authlib. (aiohttp.web itself imports aiohttp's client
    modules, so those are not asserted on.)"""
    code = (
        "import sys, dispatcher.receiver.app\n"
        "print(sorted(m for m in sys.modules if m.startswith(('authlib', 'dispatcher.auth',"
        " 'dispatcher.transport', 'dispatcher.leanhttp', 'dispatcher.engine',"
        " 'dispatcher.delivery'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
