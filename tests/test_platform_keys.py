"""Platform mode verifies the JWT assertion's RS256 signature when it has the service account's
public key (`--service-account-key`, PEM or JWKS), and says so when it has none."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from dispatcher.cli import main
from dispatcher.errors import ConfigError
from dispatcher.platform.api import PlatformConfig, RunningPlatform, start_platform
from dispatcher.platform.keys import load_keys

from .helpers import settings

GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ISSUER = "integrator@tenant.iam.acesso.io"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
THIRD = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": "identity.test", "scope": "*", "iat": now, "exp": now + 600,
            **overrides}  # fmt: skip


def signed(
    key: rsa.RSAPrivateKey = KEY, header: dict[str, Any] | None = None, **overrides: Any
) -> str:
    head = b64(json.dumps(header or {"alg": "RS256", "typ": "JWT"}).encode())
    signing_input = f"{head}.{b64(json.dumps(claims(**overrides)).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def public_pem(key: rsa.RSAPrivateKey = KEY) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()

    def encode(n: int) -> str:
        return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))

    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": encode(numbers.n), "e": encode(numbers.e)}  # fmt: skip


Start = Callable[..., Awaitable[RunningPlatform]]


@pytest.fixture
async def platform() -> AsyncIterator[Start]:
    running: list[RunningPlatform] = []

    async def start(*keys: Path) -> RunningPlatform:
        config = PlatformConfig.model_validate({"service_account_keys": keys})
        p = await start_platform(settings("http://127.0.0.1:9/webhook"), config)
        running.append(p)
        return p

    yield start
    for p in running:
        await p.close(grace_s=0.1)


async def token(platform: RunningPlatform, assertion: str) -> tuple[int, dict[str, Any]]:
    form = {"grant_type": GRANT, "assertion": assertion}
    async with (
        aiohttp.ClientSession() as http,
        http.post(platform.url + "/oauth2/token", data=form) as resp,
    ):
        return resp.status, await resp.json()


def tampered(assertion: str) -> str:
    head, _, signature = assertion.split(".")
    other_claims = b64(json.dumps(claims(iss="attacker@tenant.iam.acesso.io")).encode())
    return f"{head}.{other_claims}.{signature}"


def hs256_with_public_key() -> str:
    """The classic confusion: HMAC-signed with the public key's PEM as the secret."""
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{head}.{b64(json.dumps(claims()).encode())}"
    mac = hmac.new(public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def alg_none() -> str:
    head = b64(json.dumps({"alg": "none"}).encode())
    return f"{head}.{b64(json.dumps(claims()).encode())}.x"


async def test_pem_key_accepts_the_right_signature_and_refuses_forgeries(
    platform: Start, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pem = tmp_path / "sa.pem"
    pem.write_bytes(public_pem())
    caplog.set_level(logging.INFO, logger="webhook_sim.platform")
    p = await platform(pem)
    status, body = await token(p, signed())
    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert "signature verified" in caplog.text
    refusals = {
        "other key": (signed(OTHER), "signature does not verify"),
        "tampered claim": (tampered(signed()), "signature does not verify"),
        "alg none": (alg_none(), "RS256"),
        "HS256": (hs256_with_public_key(), "RS256"),
        "bad signature encoding": (signed()[:-4] + "!!!!", "base64url"),
    }
    for name, (assertion, reason) in refusals.items():
        status, body = await token(p, assertion)
        assert status == 400, name
        assert body["error"] == "invalid_grant", name
        assert reason in body["error_description"], (name, body)
    assert "NOT verified" not in caplog.text


async def test_jwks_with_several_keys_and_kids(platform: Start, tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    ec_key = {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}  # skipped: not RS256
    jwks.write_text(json.dumps({"keys": [jwk(OTHER, "k1"), ec_key, jwk(KEY, "k2")]}))
    p = await platform(jwks)
    for header in ({"alg": "RS256", "kid": "k2"}, {"alg": "RS256"}, {"alg": "RS256", "kid": "x"}):
        status, body = await token(p, signed(header=header))
        assert status == 200, (header, body)
    # The kid names k1, and k1 did not sign it.
    status, _ = await token(p, signed(header={"alg": "RS256", "kid": "k1"}))
    assert status == 400
    status, _ = await token(p, signed(THIRD))  # in no file
    assert status == 400


async def test_pem_and_jwks_flags_combine(platform: Start, tmp_path: Path) -> None:
    pem, jwks = tmp_path / "a.pem", tmp_path / "b.json"
    pem.write_bytes(public_pem(OTHER))
    jwks.write_text(json.dumps({"keys": [jwk(KEY, "k")]}))
    p = await platform(pem, jwks)
    assert (await token(p, signed(KEY)))[0] == 200
    assert (await token(p, signed(OTHER)))[0] == 200


def test_a_certificate_holds_a_usable_key(tmp_path: Path) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "integrator")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(KEY, hashes.SHA256())
    )
    path = tmp_path / "cert.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + public_pem(OTHER))
    keys = load_keys([path])
    assert len(keys) == 2
    assert keys[0].key.public_numbers() == KEY.public_key().public_numbers()


async def test_without_keys_tokens_are_granted_and_every_log_line_says_unverified(
    platform: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="webhook_sim.platform")
    p = await platform()
    startup = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(startup) == 1
    assert "NOT verified" in startup[0].getMessage()
    assert (await token(p, signed(OTHER)))[0] == 200  # any key: the claims are all it checks
    assert (await token(p, alg_none()))[0] == 400  # still only RS256
    answers = [r.getMessage() for r in caplog.records if "/oauth2/token" in r.getMessage()]
    assert len(answers) == 2
    assert all("signatures NOT verified" in line for line in answers)


def private_pem() -> bytes:
    return KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ec_pem() -> bytes:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def small_pem() -> bytes:
    return public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read it"),
        (b"hello", "neither PEM nor JSON"),
        (b'{"keys": [{"kty": "EC"}]}', "no RSA public key"),
        (b'{"keys": [{"kty": "RSA", "n": "%%%", "e": "AQAB"}]}', "key #1 is not an RSA JWK"),
        (b'{"something": 1}', "not a JWKS"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a readable PEM"),
        (private_pem(), "holds a private key"),
        (ec_pem(), "not an RSA key"),
        (small_pem(), "at least 2048"),
    ],
    ids=["missing", "garbage", "no-rsa", "bad-jwk", "not-jwks", "bad-pem", "private", "ec", "1024"],
)
def test_a_bad_key_file_is_one_line_naming_flag_and_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, reason: str
) -> None:
    path = tmp_path / "key.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=reason):
        load_keys([path])
    code = main(["platform", "--webhook-url", "http://127.0.0.1:9/", "--port", "0",
                 "--service-account-key", str(path)])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1, err
    assert f"--service-account-key = '{path}'" in err
    assert reason in err
