"""Service-account public keys, for verifying the JWT assertion's RS256 signature as the real
platform does.

With `cryptography` directly (already installed, as authlib's dependency): authlib's own JOSE
module is deprecated in favour of joserfc, and RS256 verification is one call. Only RS256 exists
here: the header's `alg` is checked to be RS256 before any key is used, so an `alg: none` or an
HS256 token signed with the public key as an HMAC secret never reaches a verifier.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..errors import ConfigError

FLAG = "--service-account-key"
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)
# Keys shorter than this are refused at load: the platform would not accept them either, and a
# short key is a mistake worth saying.
MIN_BITS = 2048


@dataclass(frozen=True)
class ServiceAccountKey:
    key: rsa.RSAPublicKey
    kid: str | None
    source: str  # the file, and the key's place in it, for messages


def load_keys(paths: Iterable[Path]) -> tuple[ServiceAccountKey, ...]:
    keys: list[ServiceAccountKey] = []
    for path in paths:
        keys.extend(load_key_file(path))
    return tuple(keys)


def load_key_file(path: Path) -> list[ServiceAccountKey]:
    """Every RSA public key in `path`: PEM (public keys, PKCS#1 RSA public keys or X.509
    certificates, several blocks allowed) or a JWKS (`{"keys": [...]}`, or a single JWK)."""

    def bad(why: str) -> ConfigError:
        return ConfigError(f"{FLAG} = {str(path)!r}: {why}")

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise bad(f"cannot read it ({exc.strerror or exc})") from None
    if b"-----BEGIN" in data:
        keys = [_pem_key(block, f"{path} #{i + 1}", bad) for i, block in enumerate(_blocks(data))]
    else:
        keys = _jwks(data, str(path), bad)
    if not keys:
        raise bad("no RSA public key in it (expected PEM or a JWKS)")
    return keys


def _blocks(data: bytes) -> list[bytes]:
    return [m.group(0) for m in _PEM.finditer(data)]


def _pem_key(block: bytes, source: str, bad: Any) -> ServiceAccountKey:
    if b"PRIVATE KEY" in block.split(b"\n", 1)[0]:
        raise bad("holds a private key: give the public one (openssl pkey -pubout)")
    try:
        if b"CERTIFICATE" in block.split(b"\n", 1)[0]:
            public: Any = x509.load_pem_x509_certificate(block).public_key()
        else:
            public = serialization.load_pem_public_key(block)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise bad("not a readable PEM public key or certificate") from None
    return ServiceAccountKey(_rsa(public, bad), None, source)


def _jwks(data: bytes, path: str, bad: Any) -> list[ServiceAccountKey]:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise bad("neither PEM nor JSON (a JWKS)") from None
    if isinstance(document, dict) and "keys" in document:
        entries = document["keys"]
    elif isinstance(document, dict) and "kty" in document:
        entries = [document]
    else:
        raise bad('not a JWKS: expected {"keys": [...]} or a JWK')
    if not isinstance(entries, list):
        raise bad('not a JWKS: "keys" must be a list')
    keys = []
    for i, jwk in enumerate(entries):
        if not isinstance(jwk, dict):
            raise bad(f"key #{i + 1} is not a JSON object")
        # Keys for other uses or algorithms sit in the same JWKS in practice: skipped.
        if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
            continue
        if jwk.get("alg", "RS256") != "RS256":
            continue
        try:
            n, e = _b64int(jwk["n"]), _b64int(jwk["e"])
            public = rsa.RSAPublicNumbers(e, n).public_key()
        except (KeyError, TypeError, ValueError):
            raise bad(f"key #{i + 1} is not an RSA JWK (n and e, base64url)") from None
        kid = jwk.get("kid")
        keys.append(
            ServiceAccountKey(
                _rsa(public, bad), kid if isinstance(kid, str) else None, f"{path} #{i + 1}"
            )
        )
    return keys


def _b64int(value: Any) -> int:
    if not isinstance(value, str) or not value:
        raise ValueError("not base64url")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
    return int.from_bytes(raw, "big")


def _rsa(public: Any, bad: Any) -> rsa.RSAPublicKey:
    if not isinstance(public, rsa.RSAPublicKey):
        raise bad(f"not an RSA key ({type(public).__name__}): only RS256 is supported")
    if public.key_size < MIN_BITS:
        raise bad(f"an RSA key of {public.key_size} bits: at least {MIN_BITS} are needed")
    return public


def signature_verifies(
    keys: Iterable[ServiceAccountKey], signing_input: bytes, signature: bytes, kid: str | None
) -> bool:
    """True when one of `keys` made `signature` (RS256: RSASSA-PKCS1-v1_5 with SHA-256).

    A `kid` in the JWT header narrows the candidates to the keys with that kid, when there are
    any; otherwise every key is tried (a PEM key has no kid to match).
    """
    keys = list(keys)
    named = [k for k in keys if kid is not None and k.kid == kid]
    for candidate in named or keys:
        try:
            candidate.key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            continue
        return True
    return False
