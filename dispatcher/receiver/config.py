"""What the sandbox receiver expects from callers and how it misbehaves on purpose: its
settings, and the auth it infers from the credentials it is given, as the sender does."""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ..credentials import OAuth2Client, parse_api_key, parse_basic
from ..errors import ConfigError
from .serving import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_READ_TIMEOUT_S

Flaw = Literal[
    "any-credentials",  # accepts any (or no) credentials
    "duplicate-409",  # 409 Conflict on a notification it has already accepted
    "duplicate-500",  # 500 on a notification it has already accepted
    "unknown-500",  # 500 on a status, state, result or event it does not know
    "extra-field-500",  # 500 on a field it does not know
    "regress",  # a late, earlier status overwrites the final one
    "slow",  # answers after slow_ms, longer than a sender's timeout
]
FLAWS: tuple[str, ...] = Flaw.__args__  # type: ignore[attr-defined]
AuthType = Literal["none", "basic", "api-key", "oauth2"]
DEFAULT_EXACT_KEYS = 1_000_000


def infer_auth(
    explicit: str | None,
    *,
    basic: object = None,
    api_key: object = None,
    client_id: object = None,
    client_secret: object = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """The auth to expect: --auth when given, else the one kind of credential given, as the
    sender infers it (and, with no credential flag, the one credential in the environment).

    Two kinds given without --auth is refused: guessing would test the wrong thing.
    """
    if explicit is not None:
        return explicit
    kinds = [
        (kind, flag)
        for kind, flag, given in (
            ("basic", "--basic", basic),
            ("api-key", "--api-key", api_key),
            ("oauth2", "--client-id/--client-secret", client_id or client_secret),
        )
        if given
    ]
    if len(kinds) > 1:
        raise ConfigError(
            f"{' and '.join(flag for _, flag in kinds)} given: say which the receiver expects "
            "with --auth"
        )
    if kinds:
        return kinds[0][0]
    present = [
        kind
        for kind, name in (("basic", "WEBHOOK_SIM_BASIC"), ("api-key", "WEBHOOK_SIM_API_KEY"))
        if (env or {}).get(name)
    ]
    return present[0] if len(present) == 1 else "none"


class ReceiverConfig(BaseModel):
    """What the sandbox expects from callers, and how it misbehaves on purpose."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    auth: AuthType = "none"  # when not given: inferred from the credentials (infer_auth)
    basic: SecretStr | None = None
    api_key: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    token_ttl_s: int = Field(3600, ge=1, le=86400)
    fail_rate: float = Field(0.0, ge=0, le=1)
    fail_first: int = Field(0, ge=0)
    latency_ms: float = Field(0.0, ge=0, le=600_000)
    status: int | None = Field(None, ge=100, le=599)
    seed: int | None = None
    flaws: tuple[Flaw, ...] = ()
    slow_ms: float = Field(2000.0, ge=0, le=600_000)
    # None: DEFAULT_MAX_CONNECTIONS, fitted under the open-file limit (serving.fit_connections).
    max_connections: int | None = Field(None, ge=1, le=1_000_000)
    read_timeout_s: float = Field(DEFAULT_READ_TIMEOUT_S, gt=0, le=3600)
    idle_timeout_s: float = Field(DEFAULT_IDLE_TIMEOUT_S, gt=0, le=86400)
    dedup_exact_keys: int = Field(DEFAULT_EXACT_KEYS, ge=0, le=100_000_000)
    record: Path | None = None  # one JSON line per request appended here (record.py)
    # The only source networks answered (allow.py); () lets every source in.
    allow_from: tuple[IPv4Network | IPv6Network, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _infer_auth(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("auth") is None:
            try:
                auth = infer_auth(
                    None,
                    basic=data.get("basic"),
                    api_key=data.get("api_key"),
                    client_id=data.get("client_id"),
                    client_secret=data.get("client_secret"),
                )
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
            data = {**data, "auth": auth}
        return data

    @field_validator("api_key")
    @classmethod
    def _api_key_header(cls, value: SecretStr | None) -> SecretStr | None:
        # A key no client can send would make a receiver that refuses everyone.
        if value is not None and value.get_secret_value():
            parse_api_key(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _complete(self) -> ReceiverConfig:
        if self.auth == "basic" and self.expected_header() is None:
            raise ValueError("--basic USER:PASS is required with --auth basic")
        if self.auth == "api-key" and not self.api_key:
            raise ValueError("--api-key HEADER:VALUE (or VALUE) is required with --auth api-key")
        if self.auth == "oauth2" and self.oauth2_client() is None:
            raise ValueError("--client-id and --client-secret are required with --auth oauth2")
        return self

    def expected_header(self) -> tuple[str, str] | None:
        """The header (name, value) a caller must send, for Basic and API key auth."""
        if self.auth == "basic" and self.basic is not None:
            try:
                return "Authorization", parse_basic(self.basic.get_secret_value()).header()
            except ValueError:
                return None
        if self.auth == "api-key" and self.api_key:
            key = parse_api_key(self.api_key.get_secret_value())
            return key.header, key.value
        return None

    def oauth2_client(self) -> OAuth2Client | None:
        """The one client the token endpoint knows, with oauth2 auth."""
        if self.auth != "oauth2" or not (self.client_id and self.client_secret):
            return None
        return OAuth2Client(self.client_id, self.client_secret.get_secret_value())
