"""Building settings at the edge: a file, a scenario's settings table, the environment and
flags, merged in rising precedence (flags > environment > file, as in the Stripe CLI and k6)
and validated once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from ..redact import REDACTOR
from .files import check_tree, expand_env, read_config_file
from .masking import secrets_of
from .messages import describe_validation_error
from .models import Settings
from .sources import ENV_SECRETS

M = TypeVar("M", bound=BaseModel)


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
        _infer_auth_type(auth, env)
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


def _infer_auth_type(auth: dict[str, Any], env: Mapping[str, str]) -> None:
    """auth.type from the one kind of credential given, and the credential itself from the
    environment when the type needs it and no file or flag gave it."""
    if "type" not in auth:
        if "basic" in auth:
            auth["type"] = "basic"
        elif "api_key" in auth:
            auth["type"] = "api-key"
        elif "token_url" in auth or "client_id" in auth:
            auth["type"] = "oauth2"
        elif not auth:
            # Nothing configured but a credential in the environment: that names the scheme.
            present = [k for k in ("basic", "api_key") if env.get(ENV_SECRETS[k])]
            if len(present) == 1:
                auth["type"] = "basic" if present[0] == "basic" else "api-key"
    needs = {"basic": "basic", "api-key": "api_key", "oauth2": "client_secret"}.get(
        str(auth.get("type"))
    )
    if needs and not auth.get(needs) and env.get(ENV_SECRETS[needs]):
        auth[needs] = env[ENV_SECRETS[needs]]


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


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
