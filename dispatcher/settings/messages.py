"""A pydantic ValidationError as one line: where the value came from (the file, the scenario's
settings table or the flag), the value as given (secrets as `***`, URLs without userinfo) and
what is allowed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ValidationError

from ..quoting import shown
from .files import one_line
from .models import SECRET_KEYS, Settings
from .sources import flag_name
from .urls import URL_KEYS, redact_url


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
    message = one_line(str(first["msg"]).removeprefix("Value error, "))
    value = first.get("input")
    where = flag_name(dotted) if flag_keys and dotted in flag_keys else f"{prefix}{dotted}"
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
        quoted = "***"
    elif loc[-1] in URL_KEYS and isinstance(value, str):
        quoted = shown(redact_url(value))
    elif loc[-1] == "ca_bundle" and isinstance(value, str):
        quoted = shown(Path(value))
    else:
        quoted = shown(value)
    return f"{where} = {quoted}: {message}{more}"


def _model_at(model: type[BaseModel], path: tuple[str, ...]) -> type[BaseModel] | None:
    for part in path:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _key_pattern(key: str) -> str:
    # Whole keys only: interval_s is not the tail of max_interval_s, nor auth.basic of "basic".
    return rf"(?<![\w.-]){re.escape(key)}(?![\w.])"


def _mentions(message: str, key: str) -> bool:
    return re.search(_key_pattern(key), message) is not None


def _flag_names(message: str, flag_keys: set[str] | None) -> str:
    """Name each key the flags set by its flag: `max_interval_s` → `--max-interval`."""
    for key in sorted(flag_keys or (), key=len, reverse=True):
        # A flag name is "--" and letters: safe as a replacement template.
        message = re.sub(_key_pattern(key), flag_name(key), message)
    return message
