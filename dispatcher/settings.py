"""Settings: one frozen, validated value built at the edge from a file, the environment and flags.

Precedence is flags > environment > file, as in the Stripe CLI and k6. Every bad value becomes a
`ConfigError` whose message is one line naming the key (or flag), the value and what is allowed;
secrets are never echoed back.
"""

from __future__ import annotations

import math
import os
import re
import ssl
import sys
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

from . import credentials
from .contract import NOTIFIED_STATUSES, RESULTS, Flow, PayloadProfile
from .errors import ConfigError
from .redact import MIN_LENGTH, REDACTOR

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
    "secret_header": "secret_headers",
    "ca_bundle": "ca_bundle",
    "insecure": "insecure",
    "adaptive": "throttle.enabled",
    "throttle_window": "throttle.window_s",
    "throttle_threshold": "throttle.threshold",
    "throttle_decrease": "throttle.decrease",
}
# The traffic flags of run and load (validated as TrafficSettings).
TRAFFIC_FLAG_KEYS = {"unknown_status": "unknown"}
# Flags of run, load and send that are not settings (validated as RunOptions, SendOptions).
OPTION_FLAG_KEYS = {"grace": "grace_s", "progress_every": "progress_every_s", "result": "result"}
# Settings key → the flag that sets it; the first parameter named for a key wins (--url).
FLAG_NAMES = {
    key: "--" + name.replace("_", "-")
    for name, key in reversed(
        [*FLAG_KEYS.items(), *TRAFFIC_FLAG_KEYS.items(), *OPTION_FLAG_KEYS.items()]
    )
}
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Headers that frame the message or the connection: the HTTP client owns them, and a user's
# value would desynchronise the request (Content-Length) or smuggle a second one.
FRAMING_HEADERS = (
    "Content-Length", "Transfer-Encoding", "Host", "Connection", "Upgrade", "TE", "Trailer",
    "Keep-Alive", "Proxy-Connection",
)  # fmt: skip
_FRAMING = frozenset(name.lower() for name in FRAMING_HEADERS)
# C0 controls but HTAB (RFC 9110 allows it inside a field value), and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
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


def _field_value_problem(value: str) -> str | None:
    """Why `value` cannot be sent as an HTTP field value, or None if it can."""
    if _CONTROL.search(value):
        return "must be one line of visible ASCII (no control characters)"
    if not value.isascii():
        return "must be one line of ASCII"
    return None


def _frozen() -> ConfigDict:
    return ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


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
        if _CONTROL.search(spec):
            raise ValueError(f"the value {_field_value_problem(spec)}")
        header, sep, rest = spec.partition(":")
        if not sep:
            header, rest = "Authorization", spec
        elif not _HEADER_NAME.fullmatch(header.strip()):
            raise ValueError(
                f"header name {_short(header)} is not a valid header name (HEADER:VALUE)"
            )
        header = header.strip()
        if header.lower() in _FRAMING:
            raise ValueError(
                f"{header} cannot carry an API key (not allowed: {', '.join(FRAMING_HEADERS)})"
            )
        # The messages name the header, never the spec: the CLI masks the spec as a secret.
        if not rest.strip():
            raise ValueError(f"header {header} has an empty value (HEADER:VALUE, or VALUE alone)")
        problem = _field_value_problem(rest)
        if problem:
            raise ValueError(f"the value {problem}")
        return value

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
        parsed = []
        for item in value:
            if isinstance(item, tuple):
                parsed.append(item)
                continue
            raw_name, sep, val = str(item).partition(":")
            name = raw_name.strip()
            # Each message starts with the header's name, never its value (a credential, maybe).
            if not sep or not _HEADER_NAME.fullmatch(name) or _CONTROL.search(raw_name):
                raise ValueError(
                    f"{_short(name if sep else item)}: must be NAME:VALUE with a valid header name"
                )
            if name.lower() in _FRAMING:
                raise ValueError(
                    f"{_short(name)}: set by the HTTP client "
                    f"(not allowed: {', '.join(FRAMING_HEADERS)})"
                )
            problem = _field_value_problem(val)
            if problem:
                raise ValueError(f"{_short(name)}: its value {problem}")
            parsed.append((name, val.strip()))
        return tuple(parsed)

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
                        f"notify: {_short(item)} is not a notified by-client status "
                        f"(allowed: {', '.join(map(str, NOTIFIED_STATUSES))})"
                    )
        else:
            for item in self.notify:
                if item not in RESULTS:
                    raise ValueError(
                        f"notify: {_short(item)} is not a by-unico result "
                        f"(allowed: {', '.join(RESULTS)})"
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
        if self.auth.api_key is not None:
            header, sep, _ = self.auth.api_key.get_secret_value().partition(":")
            if sep:
                auth["api_key"] = f"{header}:***"
        data["headers"] = {
            name: "***" if credentials.is_secret_header(name) else value
            for name, value in self.headers
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


# Loading -------------------------------------------------------------------------------------

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Settings and scenario files are a few dozen lines nested three deep; these bounds are far
# above that and keep every recursive step after loading (and the loaders) safe.
MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 32


def read_text_file(path: Path, what: str) -> str:
    """A small UTF-8 text file, or a one-line ConfigError naming `what` (e.g. `--config x`)."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read it ({exc.strerror or exc})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(
            f"{what}: larger than {MAX_FILE_BYTES // 1024 // 1024} MiB "
            "(settings and scenario files are a few KiB)"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{what}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line})"
        ) from None


class _YamlRefused(yaml.YAMLError):
    def __init__(self, problem: str, line: int) -> None:
        super().__init__(problem)
        self.problem, self.line = problem, line


class StrictYamlLoader(yaml.SafeLoader):
    """SafeLoader without anchors or aliases, and with a nesting limit.

    An alias is a reference, so a few lines of them ("billion laughs") expand to a tree of
    billions of nodes when anything walks the result; settings never need them.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark = getattr(event, "start_mark", None)
        line = mark.line + 1 if mark is not None else 0
        if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            kind = "alias" if isinstance(event, yaml.AliasEvent) else "anchor"
            raise _YamlRefused(
                f"YAML anchors and aliases are not allowed (found {kind} {_short(event.anchor)})",
                line,
            )
        if self._depth >= MAX_DEPTH:
            raise _YamlRefused(f"nested more than {MAX_DEPTH} levels deep", line)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML with StrictYamlLoader; any problem is a one-line ConfigError naming `source`."""
    loader = StrictYamlLoader(text)
    try:
        return loader.get_single_data()
    except _YamlRefused as exc:
        raise ConfigError(f"{source}: line {exc.line}: {exc.problem}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise ConfigError(f"{source}: not valid YAML{where}: {' '.join(what.split())}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from None
    except (ValueError, OverflowError) as exc:
        # A scalar Python cannot hold: thousands of digits, a date like 2024-13-45.
        raise ConfigError(f"{source}: not valid YAML: {_number_problem(exc)}") from None
    finally:
        loader.dispose()


def check_tree(data: Any, source: str) -> None:
    """Refuse what no settings file holds but every recursive walk would trip on: deep nesting
    and keys that are not strings. Iterative, so the check itself cannot overflow."""
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    while stack:
        node, depth, where = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}: nested more than {MAX_DEPTH} levels deep (at {where})")
        if isinstance(node, dict):
            for key, value in node.items():
                if not isinstance(key, str):
                    raise ConfigError(
                        f"{source}: key {_short(key)}{f' in {where}' if where else ''} "
                        "must be a string (quote it)"
                    )
                stack.append((value, depth + 1, f"{where}.{key}" if where else key))
        elif isinstance(node, list | tuple):
            stack.extend((value, depth + 1, where or "the top level") for value in node)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _number_problem(exc: Exception) -> str:
    """Python's own message for a huge integer points at sys.set_int_max_str_digits."""
    if "integer string conversion" in str(exc):
        return f"a number has more than {sys.get_int_max_str_digits()} digits"
    return _one_line(exc)


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a TOML or YAML settings file into a plain dict (no validation yet)."""
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(
            f"--config {path}: unknown file type {suffix!r} (allowed: .toml, .yaml, .yml)"
        )
    text = read_text_file(path, f"--config {path}")
    if suffix == ".toml":
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {_one_line(exc)}") from None
        except RecursionError:
            raise ConfigError(f"{path}: nested more than {MAX_DEPTH} levels deep") from None
        except ValueError as exc:  # an integer of thousands of digits
            raise ConfigError(f"{path}: not valid TOML: {_number_problem(exc)}") from None
    else:
        data = load_yaml(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table of settings")
    check_tree(data, str(path))
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
    # Flag-only input has no source to name: the CLI's own "webhook-sim: error:" prefix says it.
    source = str(config) if config else None
    data: dict[str, Any] = {}
    if config is not None:
        data = expand_env(read_config_file(config), env, str(config))
    layered: tuple[str, set[str]] | None = None
    if scenario is not None:
        where = f"{scenario[0]}: settings"
        check_tree(dict(scenario[1]), where)
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
        built = model.model_validate(merged)
        REDACTOR.add_all(secrets_of(built))
        return built
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
            describe_validation_error(exc, None, model=model, flag_keys=_flat_keys(data))
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
    source: str | None,
    *,
    model: type[BaseModel] = Settings,
    flag_keys: set[str] | None = None,
    layer: tuple[str, set[str]] | None = None,
) -> str:
    """One line for the first problem pydantic found: where, what value, what is allowed.

    `source` names the file the values came from; None when they came from flags alone.
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(str(p) for p in first["loc"] if not isinstance(p, int))
    dotted = ".".join(loc)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if layer is not None and dotted in layer[1]:
        source = layer[0]
    prefix = f"{source}: " if source else ""
    if first["type"] == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        allowed = ", ".join(parent.model_fields) if parent else "see the README"
        return f"{prefix}unknown key '{dotted}' (allowed: {allowed}){more}"
    message = _one_line(str(first["msg"]).removeprefix("Value error, "))
    value = first.get("input")
    if flag_keys and dotted in flag_keys:
        where = FLAG_NAMES.get(dotted, "--" + dotted.replace("_", "-"))
    else:
        where = f"{prefix}{dotted}"
    if loc and loc[-1] == "headers":
        # The message starts with the header's name; the values may be secrets.
        return f"{where} {message}{more}"
    if not loc or isinstance(value, Mapping):
        # A cross-field rule: its message names the keys (as flags, where flags set them), and
        # the input is a whole table that may hold secrets.
        if layer is not None and any(
            _mentions(message, key) for key in layer[1] - (flag_keys or set())
        ):
            prefix = f"{layer[0]}: "
        return f"{prefix}{_flag_names(message, flag_keys)}{more}"
    if loc[-1] in SECRET_KEYS or loc == ("auth",):
        shown = "***"
    elif loc[-1] in URL_KEYS and isinstance(value, str):
        shown = _short(redact_url(value))
    elif loc[-1] == "ca_bundle" and isinstance(value, str):
        shown = _short(Path(value))
    else:
        shown = _short(value)
    return f"{where} = {shown}: {message}{more}"


def _key_pattern(key: str) -> str:
    # Whole keys only: interval_s is not the tail of max_interval_s, nor auth.basic of "basic".
    return rf"(?<![\w.-]){re.escape(key)}(?![\w.])"


def _mentions(message: str, key: str) -> bool:
    return re.search(_key_pattern(key), message) is not None


def _flag_names(message: str, flag_keys: set[str] | None) -> str:
    """Name each key the flags set by its flag: `max_interval_s` → `--max-interval`."""
    for key in sorted(flag_keys or (), key=len, reverse=True):
        flag = FLAG_NAMES.get(key, "--" + key.replace("_", "-"))
        # A flag name is "--" and letters: safe as a replacement template.
        message = re.sub(_key_pattern(key), flag, message)
    return message


def _short(value: Any) -> str:
    if isinstance(value, Path):
        text = repr(str(value))
        return text if len(text) <= 60 else "'..." + text[-56:]  # a file's name is its end
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def shown(value: Any) -> str:
    """A user's value quoted for a one-line message: escaped, and cut at 60 characters."""
    return _short(value)


def secret_values(auth: AuthSettings) -> tuple[str, ...]:
    """Every secret string this auth config holds, parsed by the same functions that send
    them, for scrubbing text we did not write (a receiver may echo a header back)."""
    values: list[str] = []
    if auth.basic is not None:
        user_pass = auth.basic.get_secret_value()
        values += [user_pass, credentials.split_basic(user_pass)[1]]
        values.append(credentials.basic_header(user_pass).removeprefix("Basic "))
    if auth.api_key is not None:
        values.append(credentials.split_api_key(auth.api_key.get_secret_value())[1])
    if auth.client_secret is not None:
        values.append(auth.client_secret.get_secret_value())
    # Longest first, so that "user:pass" is replaced whole before "pass" is looked for.
    return tuple(sorted((v for v in values if v), key=len, reverse=True))


def secrets_of(settings: Settings) -> tuple[str, ...]:
    """Every secret of a run's settings: credentials, secret headers, credential-like headers."""
    headers = [v for n, v in settings.headers if credentials.is_secret_header(n)]
    headers += [v for _, v in settings.secret_headers]
    return secret_values(settings.auth) + tuple(v for v in headers if v)


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    # As in REDACTOR: a one- or two-character secret is not searched for in free text.
    for value in secrets:
        if len(value) >= MIN_LENGTH:
            text = text.replace(value, "***")
    return REDACTOR.scrub(text)
