"""Settings: one frozen, validated value built at the edge from a file, the environment and flags.

Precedence is flags > environment > file, as in the Stripe CLI and k6. Every bad value becomes a
`ConfigError` whose message is one line naming the key (or flag), the value and what is allowed;
secrets are never echoed back.

The package's modules: `models` (the values), `urls` (the URLs it calls), `sources` (flags and
environment variables), `files` (reading TOML and YAML), `build` (merging and validating),
`messages` (a ValidationError as one line), `masking` (the secrets the settings hold). Every
name is importable from here.
"""

from ..headers import FRAMING_HEADERS
from ..quoting import shown
from .build import build_settings, validate_flags
from .files import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    StrictYamlLoader,
    check_tree,
    expand_env,
    load_yaml,
    read_config_file,
    read_text_file,
)
from .masking import scrub, secret_values, secrets_of
from .messages import describe_validation_error
from .models import (
    SECRET_KEYS,
    AuthSettings,
    RunOptions,
    SendOptions,
    Settings,
    ThrottleSettings,
    TrafficSettings,
)
from .sources import ENV_SECRETS, FLAG_KEYS, FLAG_NAMES, OPTION_FLAG_KEYS, TRAFFIC_FLAG_KEYS
from .urls import URL_KEYS, HttpUrl, TokenUrl, redact_url, validate_url

__all__ = [
    "ENV_SECRETS",
    "FLAG_KEYS",
    "FLAG_NAMES",
    "FRAMING_HEADERS",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "OPTION_FLAG_KEYS",
    "SECRET_KEYS",
    "TRAFFIC_FLAG_KEYS",
    "URL_KEYS",
    "AuthSettings",
    "HttpUrl",
    "RunOptions",
    "SendOptions",
    "Settings",
    "StrictYamlLoader",
    "ThrottleSettings",
    "TokenUrl",
    "TrafficSettings",
    "build_settings",
    "check_tree",
    "describe_validation_error",
    "expand_env",
    "load_yaml",
    "read_config_file",
    "read_text_file",
    "redact_url",
    "scrub",
    "secret_values",
    "secrets_of",
    "shown",
    "validate_flags",
    "validate_url",
]
