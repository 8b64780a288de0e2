"""The settings models: one frozen, validated value per concern (auth, throttle, the run's
settings, traffic, run and send options). Rules about one value live on its field; rules
across fields in the model's validators, whose messages name the keys involved."""

from __future__ import annotations

import math
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from ..binding import FAMILY_NAMES, family_of, source_address
from ..contract import NOTIFIED_STATUSES, RESULTS, Flow, PayloadProfile
from ..credentials import ApiKey, BasicCredentials, is_secret_header, parse_api_key, parse_basic
from ..headers import parse_header
from ..quoting import shown
from .sources import ENV_SECRETS
from .urls import HttpUrl, TokenUrl

SECRET_KEYS = frozenset({"basic", "api_key", "client_secret"})


def _frozen() -> ConfigDict:
    return ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


SourceAddress = Annotated[str, AfterValidator(source_address)]


class AuthSettings(BaseModel):
    """How webhook-sim authenticates to the receiver (the platform console's auth settings)."""

    model_config = _frozen()

    type: Literal["none", "basic", "api-key", "oauth2"] = "none"
    basic: SecretStr | None = Field(None, description="USER:PASS")
    api_key: SecretStr | None = Field(None, description="HEADER:VALUE, or VALUE for Authorization")
    token_url: TokenUrl | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    scope: str | None = None
    client_auth: Literal["basic", "post"] = "basic"

    @field_validator("api_key", mode="before")
    @classmethod
    def _api_key_header(cls, value: Any) -> Any:
        # Before pydantic strips whitespace, so a CR or LF at either end is seen and refused.
        spec = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(spec, str) or not spec.strip():
            return value  # not a string, or missing: pydantic and _complete say what is wanted
        parse_api_key(spec)  # its messages name the header, never the spec (a secret)
        return value

    @model_validator(mode="after")
    def _complete(self) -> AuthSettings:
        if self.type == "basic":
            if self.basic_credentials() is None:
                raise ValueError(
                    "auth.basic is required as USER:PASS when auth.type is basic "
                    f"(or set {ENV_SECRETS['basic']})"
                )
        elif self.type == "api-key":
            if self.api_key is None or not self.api_key.get_secret_value():
                raise ValueError(
                    "auth.api_key is required as HEADER:VALUE or VALUE when auth.type is api-key "
                    f"(or set {ENV_SECRETS['api_key']})"
                )
        elif self.type == "oauth2":
            missing = [
                name
                for name in ("token_url", "client_id", "client_secret")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(
                    f"auth.{missing[0]} is required when auth.type is oauth2 "
                    "(oauth2 needs token_url, client_id and client_secret)"
                )
        return self

    def basic_credentials(self) -> BasicCredentials | None:
        """auth.basic parsed; None when unset or not USER:PASS (allowed unless type is basic)."""
        if self.basic is None:
            return None
        try:
            return parse_basic(self.basic.get_secret_value())
        except ValueError:
            return None

    def api_key_credentials(self) -> ApiKey | None:
        """auth.api_key parsed (its validator has checked it); None when unset or empty."""
        if self.api_key is None or not self.api_key.get_secret_value():
            return None
        return parse_api_key(self.api_key.get_secret_value())


class ThrottleSettings(BaseModel):
    """The adaptive (AIMD) in-flight limit: how the platform backs off a failing receiver."""

    model_config = _frozen()

    enabled: bool = True
    window_s: float = Field(1.0, gt=0, le=60)
    min_samples: int = Field(20, ge=1, le=100_000)
    threshold: float = Field(0.2, gt=0, lt=1)
    decrease: float = Field(0.5, gt=0, lt=1)


class Settings(BaseModel):
    """Everything one run needs to know about the receiver and the platform's delivery rules."""

    model_config = _frozen()

    url: HttpUrl
    flow: Flow = "by-unico"
    payload_profile: PayloadProfile = "current"
    max_attempts: int = Field(5, ge=1, le=100)
    interval_s: float = Field(1.0, gt=0, le=3600)
    max_interval_s: float = Field(60.0, gt=0, le=86400)
    jitter: float = Field(0.2, ge=0, le=1)
    timeout_s: float = Field(10.0, gt=0, le=600)
    concurrency: int = Field(100, ge=1, le=500)
    # At least one start in about 17 minutes: a slower rate is a typo, and would stall a run.
    max_rate: float | None = Field(None, ge=0.001, le=1_000_000)
    throttle: ThrottleSettings = ThrottleSettings()
    notify: tuple[str, ...] | None = None
    auth: AuthSettings = AuthSettings()
    headers: tuple[tuple[str, str], ...] = ()
    # Sent like `headers`, but masked in every output (a signature, a tenant key ...).
    secret_headers: tuple[tuple[str, str], ...] = ()
    ca_bundle: Path | None = None
    insecure: bool = False
    retry_after_max_s: float = Field(60.0, ge=0, le=3600)
    max_body_bytes: int = Field(65536, ge=0, le=16 * 1024 * 1024)
    # The local addresses connections come from, in turn (dispatcher.binding); () lets the
    # OS choose.
    source_addresses: tuple[SourceAddress, ...] = ()

    @field_validator("interval_s", "max_interval_s", "timeout_s", "jitter", "retry_after_max_s")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("notify", mode="before")
    @classmethod
    def _split_notify(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            return tuple(str(part).strip() for part in value)
        return value

    @field_validator("headers", "secret_headers", mode="before")
    @classmethod
    def _parse_headers(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            value = [f"{k}:{v}" for k, v in value.items()]
        if not isinstance(value, list | tuple):
            return value
        return tuple(item if isinstance(item, tuple) else parse_header(str(item)) for item in value)

    @field_validator("source_addresses", mode="before")
    @classmethod
    def _one_address(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("ca_bundle")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if not value.is_file():
            raise ValueError("file not found")
        # Loaded once here, as the HTTP client will, so a bad file is refused before any run.
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(value))
        except ssl.SSLError as exc:
            # OpenSSL's reason is a name (NO_CERTIFICATE_OR_CRL_FOUND) or, for a damaged
            # block, absent; its full text ends with a C source location nobody needs.
            reason = exc.reason or "a certificate block is damaged"
            raise ValueError(f"not a PEM file of CA certificates ({reason})") from None
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot load it ({getattr(exc, 'strerror', None) or exc})") from None
        return value

    @model_validator(mode="after")
    def _check_notify(self) -> Settings:
        if self.notify is None:
            return self
        if not self.notify:
            raise ValueError("notify must name at least one status")
        if self.flow == "by-client":
            for item in self.notify:
                # Short ASCII digits only: int() refuses thousands of digits with a ValueError.
                number = item.isascii() and item.isdigit() and len(item) <= 3 and int(item)
                if number not in NOTIFIED_STATUSES:
                    raise ValueError(
                        f"notify: {shown(item)} is not a notified by-client status "
                        f"(allowed: {', '.join(map(str, NOTIFIED_STATUSES))})"
                    )
        else:
            for item in self.notify:
                if item not in RESULTS:
                    raise ValueError(
                        f"notify: {shown(item)} is not a by-unico result "
                        f"(allowed: {', '.join(RESULTS)})"
                    )
        return self

    @model_validator(mode="after")
    def _check_source_family(self) -> Settings:
        # A receiver given by its address is reached in that family alone: with no source
        # address of it, every connection would fail. (A host name may resolve to either:
        # each connection takes the next source address of the family it connects in.)
        host = urlsplit(self.url).hostname or ""
        try:
            family = family_of(host)
        except ValueError:
            return self
        if self.source_addresses and all(family_of(a) != family for a in self.source_addresses):
            raise ValueError(
                f"source_addresses: none is {FAMILY_NAMES[family]} like the url's host {host}, "
                "and a connection can only come from an address of its own family"
            )
        return self

    @model_validator(mode="after")
    def _check_intervals(self) -> Settings:
        if self.max_interval_s >= self.interval_s:
            return self
        if "max_interval_s" in self.model_fields_set:
            raise ValueError(
                f"max_interval_s = {self.max_interval_s:g}: must be at least interval_s "
                f"({self.interval_s:g})"
            )
        raise ValueError(
            f"interval_s = {self.interval_s:g}: must be at most max_interval_s "
            f"({self.max_interval_s:g} by default; raise it with --max-interval)"
        )

    @property
    def notified(self) -> tuple[str, ...]:
        """The statuses (by-client) or results (by-unico) this webhook is configured to notify."""
        if self.notify is not None:
            return self.notify
        if self.flow == "by-client":
            return tuple(map(str, NOTIFIED_STATUSES))
        return RESULTS

    def redacted(self) -> dict[str, Any]:
        """A JSON-ready view for reports: every secret is `***`."""
        data = self.model_dump(mode="json")
        auth = data["auth"]
        for key in SECRET_KEYS:
            if auth.get(key) is not None:
                auth[key] = "***"
        api_key = self.auth.api_key_credentials()
        if api_key is not None:
            auth["api_key"] = api_key.masked()
        data["headers"] = {
            name: "***" if is_secret_header(name) else value for name, value in self.headers
        }
        data["secret_headers"] = {name: "***" for name, _ in self.secret_headers}
        return data

    @property
    def all_headers(self) -> tuple[tuple[str, str], ...]:
        """The extra headers every notification carries."""
        return self.headers + self.secret_headers


class TrafficSettings(BaseModel):
    """How much to send and which of the platform's quirks to inject (`run`'s traffic)."""

    model_config = _frozen()

    count: int = Field(100, ge=1, le=100_000_000)
    duplicates: float = Field(0.0, ge=0, le=1)
    reorder: float = Field(0.0, ge=0, le=1)
    unknown: float = Field(0.0, ge=0, le=1)
    seed: int | None = None


class RunOptions(BaseModel):
    """How a run or load test is watched and stopped: flags that are not settings."""

    model_config = _frozen()

    grace_s: float = Field(2.0, ge=0, le=3600, allow_inf_nan=False)
    # Zero or less would make the progress loop spin without sleeping.
    progress_every_s: float | None = Field(None, gt=0, le=3600, allow_inf_nan=False)


class SendOptions(BaseModel):
    """What `send` notifies, where the contract fixes the values."""

    model_config = _frozen()

    # --status stays open on purpose (unknown statuses test tolerance); results are a fixed set.
    result: str = "ok"

    @field_validator("result")
    @classmethod
    def _known_result(cls, value: str) -> str:
        if value not in RESULTS:
            raise ValueError(f"not a by-Unico result (allowed: {', '.join(RESULTS)})")
        return value
