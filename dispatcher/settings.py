"""Settings: one frozen, validated value built at the edge from a file, the environment and flags.

Precedence is flags > environment > file, as in the Stripe CLI and k6. Every bad value becomes a
`ConfigError` whose message is one line naming the key (or flag), the value and what is allowed;
secrets are never echoed back.
"""

from __future__ import annotations

import base64
import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from yarl import URL

from .contract import NOTIFIED_STATUSES, RESULTS, Flow, PayloadProfile
from .errors import ConfigError

M = TypeVar("M", bound=BaseModel)

SECRET_KEYS = frozenset({"basic", "api_key", "client_secret"})
ENV_SECRETS = {
    "basic": "WEBHOOK_SIM_BASIC",
    "api_key": "WEBHOOK_SIM_API_KEY",
    "client_secret": "WEBHOOK_SIM_CLIENT_SECRET",
}
# Command-line parameter → settings key, for every flag that sets a setting. The CLI picks
# flags by these names; error messages name the flag from the same table.
FLAG_KEYS = {
    "url": "url",
    "webhook_url": "url",
    "auth": "auth.type",
    "basic": "auth.basic",
    "api_key": "auth.api_key",
    "token_url": "auth.token_url",
    "client_id": "auth.client_id",
    "client_secret": "auth.client_secret",
    "scope": "auth.scope",
    "client_auth": "auth.client_auth",
    "flow": "flow",
    "payload_profile": "payload_profile",
    "max_attempts": "max_attempts",
    "interval": "interval_s",
    "max_interval": "max_interval_s",
    "timeout": "timeout_s",
    "concurrency": "concurrency",
    "max_rate": "max_rate",
    "statuses": "notify",
    "header": "headers",
    "ca_bundle": "ca_bundle",
    "insecure": "insecure",
    "adaptive": "throttle.enabled",
    "throttle_window": "throttle.window_s",
    "throttle_threshold": "throttle.threshold",
    "throttle_decrease": "throttle.decrease",
}
# The traffic flags of run and load (validated as TrafficSettings).
TRAFFIC_FLAG_KEYS = {"unknown_status": "unknown"}
# Settings key → the flag that sets it; the first parameter named for a key wins (--url).
FLAG_NAMES = {
    key: "--" + name.replace("_", "-")
    for name, key in reversed([*FLAG_KEYS.items(), *TRAFFIC_FLAG_KEYS.items()])
}
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _http_url(value: str) -> str:
    try:
        url = URL(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a URL ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an absolute http:// or https:// URL")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


def _frozen() -> ConfigDict:
    return ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class AuthSettings(BaseModel):
    """How webhook-sim authenticates to the receiver (the platform console's auth settings)."""

    model_config = _frozen()

    type: Literal["none", "basic", "api-key", "oauth2"] = "none"
    basic: SecretStr | None = Field(None, description="USER:PASS")
    api_key: SecretStr | None = Field(None, description="HEADER:VALUE, or VALUE for Authorization")
    token_url: HttpUrl | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    scope: str | None = None
    client_auth: Literal["basic", "post"] = "basic"

    @model_validator(mode="after")
    def _complete(self) -> AuthSettings:
        if self.type == "basic":
            if self.basic is None or ":" not in self.basic.get_secret_value():
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
            header, sep, value = self.api_key.get_secret_value().partition(":")
            if sep and not _HEADER_NAME.match(header):
                raise ValueError(f"auth.api_key header name {header!r} is not a valid header name")
            if "\r" in value or "\n" in value or not value.isascii():
                raise ValueError("auth.api_key: the value must be one line of ASCII")
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
    max_rate: float | None = Field(None, gt=0, le=1_000_000)
    throttle: ThrottleSettings = ThrottleSettings()
    notify: tuple[str, ...] | None = None
    auth: AuthSettings = AuthSettings()
    headers: tuple[tuple[str, str], ...] = ()
    ca_bundle: Path | None = None
    insecure: bool = False
    retry_after_max_s: float = Field(60.0, ge=0, le=3600)
    max_body_bytes: int = Field(65536, ge=0, le=16 * 1024 * 1024)

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

    @field_validator("headers", mode="before")
    @classmethod
    def _parse_headers(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            value = [f"{k}:{v}" for k, v in value.items()]
        if not isinstance(value, list | tuple):
            return value
        parsed = []
        for item in value:
            if isinstance(item, tuple):
                parsed.append(item)
                continue
            name, sep, val = str(item).partition(":")
            if not sep or not _HEADER_NAME.match(name.strip()):
                raise ValueError(f"header {item!r} must be NAME:VALUE with a valid header name")
            if "\r" in val or "\n" in val or not val.isascii():
                raise ValueError(f"header {name.strip()!r}: its value must be one line of ASCII")
            parsed.append((name.strip(), val.strip()))
        return tuple(parsed)

    @field_validator("ca_bundle")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("file not found")
        return value

    @model_validator(mode="after")
    def _check_notify(self) -> Settings:
        if self.notify is None:
            return self
        if not self.notify:
            raise ValueError("notify must name at least one status")
        if self.flow == "by-client":
            for item in self.notify:
                if not item.isdigit() or int(item) not in NOTIFIED_STATUSES:
                    raise ValueError(
                        f"notify: {item!r} is not a notified by-client status "
                        f"(allowed: {', '.join(map(str, NOTIFIED_STATUSES))})"
                    )
        else:
            for item in self.notify:
                if item not in RESULTS:
                    raise ValueError(
                        f"notify: {item!r} is not a by-unico result (allowed: {', '.join(RESULTS)})"
                    )
        if self.max_interval_s < self.interval_s:
            raise ValueError("max_interval_s must be at least interval_s")
        return self

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
        if self.auth.api_key is not None:
            header, sep, _ = self.auth.api_key.get_secret_value().partition(":")
            if sep:
                auth["api_key"] = f"{header}:***"
        data["headers"] = {name: value for name, value in self.headers}
        return data


class TrafficSettings(BaseModel):
    """How much to send and which of the platform's quirks to inject (`run`'s traffic)."""

    model_config = _frozen()

    count: int = Field(100, ge=1, le=100_000_000)
    duplicates: float = Field(0.0, ge=0, le=1)
    reorder: float = Field(0.0, ge=0, le=1)
    unknown: float = Field(0.0, ge=0, le=1)
    seed: int | None = None


# Loading -------------------------------------------------------------------------------------

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a TOML or YAML settings file into a plain dict (no validation yet)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc.strerror})") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise ConfigError(
                f"--config {path}: unknown file type {suffix!r} (allowed: .toml, .yaml, .yml)"
            )
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table of settings")
    return data


def expand_env(value: Any, env: Mapping[str, str], source: str, key: str = "") -> Any:
    """Replace `${VAR}` in every string of a config tree; an unset variable is an error."""
    if isinstance(value, dict):
        return {
            k: expand_env(v, env, source, f"{key}.{k}" if key else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [expand_env(v, env, source, key) for v in value]
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise ConfigError(f"{source}: {key} refers to ${{{name}}}, which is not set")
            return env[name]

        return _VAR.sub(substitute, value)
    return value


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _infer_auth_type(auth: dict[str, Any]) -> None:
    if "type" in auth:
        return
    if "basic" in auth:
        auth["type"] = "basic"
    elif "api_key" in auth:
        auth["type"] = "api-key"
    elif "token_url" in auth or "client_id" in auth:
        auth["type"] = "oauth2"


def build_settings(
    *,
    config: Path | None = None,
    scenario: tuple[str, Mapping[str, Any]] | None = None,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    model: type[Settings] = Settings,
) -> Settings:
    """Merge file, scenario, environment and flags (in rising precedence) and validate once.

    `scenario` is a scenario file's name and its `settings` table.
    """
    env = os.environ if env is None else env
    source = str(config) if config else "webhook-sim"
    data: dict[str, Any] = {}
    if config is not None:
        data = expand_env(read_config_file(config), env, source)
    layered: tuple[str, set[str]] | None = None
    if scenario is not None:
        where = f"{scenario[0]}: settings"
        scenario_data = expand_env(dict(scenario[1]), env, where)
        data = _deep_merge(data, scenario_data)
        layered = (where, _flat_keys(scenario_data))
    flag_data = _nest({k: v for k, v in (flags or {}).items() if v is not None})
    merged = _deep_merge(data, flag_data)
    auth = merged.get("auth")
    if auth is None:
        auth = merged["auth"] = {}
    if isinstance(auth, dict):
        _infer_auth_type(auth)
        if "type" not in auth and len(auth) == 0:
            # Nothing configured but a credential in the environment: that names the scheme.
            present = [k for k in ("basic", "api_key") if env.get(ENV_SECRETS[k])]
            if len(present) == 1:
                auth["type"] = "basic" if present[0] == "basic" else "api-key"
        needs = {"basic": "basic", "api-key": "api_key", "oauth2": "client_secret"}.get(
            str(auth.get("type"))
        )
        if needs and not auth.get(needs) and env.get(ENV_SECRETS[needs]):
            auth[needs] = env[ENV_SECRETS[needs]]
    if "url" not in merged:
        raise ConfigError("url is required: pass --url URL or set url in --config")
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(
            describe_validation_error(
                exc, source, model=model, flag_keys=_flat_keys(flag_data), layer=layered
            )
        ) from None


def validate_flags(model: type[M], flags: Mapping[str, Any]) -> M:
    """Validate a model built from flags alone, naming the flag in any error."""
    data = _nest({k: v for k, v in flags.items() if v is not None})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            describe_validation_error(exc, "webhook-sim", model=model, flag_keys=_flat_keys(data))
        ) from None


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """`{"auth.type": x}` → `{"auth": {"type": x}}`."""
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _flat_keys(tree: Mapping[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            keys |= _flat_keys(value, f"{dotted}.")
        else:
            keys.add(dotted)
    return keys


def _model_at(model: type[BaseModel], path: tuple[str, ...]) -> type[BaseModel] | None:
    for part in path:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def describe_validation_error(
    exc: ValidationError,
    source: str,
    *,
    model: type[BaseModel] = Settings,
    flag_keys: set[str] | None = None,
    layer: tuple[str, set[str]] | None = None,
) -> str:
    """One line for the first problem pydantic found: where, what value, what is allowed."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(str(p) for p in first["loc"] if not isinstance(p, int))
    dotted = ".".join(loc)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if layer is not None and dotted in layer[1]:
        source = layer[0]
    if first["type"] == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        allowed = ", ".join(parent.model_fields) if parent else "see the README"
        return f"{source}: unknown key '{dotted}' (allowed: {allowed}){more}"
    message = str(first["msg"]).removeprefix("Value error, ")
    value = first.get("input")
    if not loc or isinstance(value, Mapping):
        # A cross-field rule: its message names the keys, and the input is a whole table that
        # may hold secrets.
        return f"{source}: {message}{more}"
    if flag_keys and dotted in flag_keys:
        where = FLAG_NAMES.get(dotted, "--" + dotted.replace("_", "-"))
    else:
        where = f"{source}: {dotted}"
    shown = "***" if loc[-1] in SECRET_KEYS else _short(value)
    return f"{where} = {shown}: {message}{more}"


def _short(value: Any) -> str:
    text = repr(str(value) if isinstance(value, Path) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def secret_values(auth: AuthSettings) -> tuple[str, ...]:
    """Every secret string this auth config holds, for scrubbing text we did not write
    (a receiver may echo a header back in its error body)."""
    values: list[str] = []
    if auth.basic is not None:
        user_pass = auth.basic.get_secret_value()
        values += [user_pass, user_pass.partition(":")[2]]
        values.append(base64.b64encode(user_pass.encode()).decode())
    if auth.api_key is not None:
        values.append(
            auth.api_key.get_secret_value().partition(":")[2] or auth.api_key.get_secret_value()
        )
    if auth.client_secret is not None:
        values.append(auth.client_secret.get_secret_value())
    # Longest first, so that "user:pass" is replaced whole before "pass" is looked for.
    return tuple(sorted((v for v in values if v), key=len, reverse=True))


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    for value in secrets:
        text = text.replace(value, "***")
    return text
