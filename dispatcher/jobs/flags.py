"""Reading a command's flags: the settings they set, and the secrets they carry.

The command line imports this before parsing (`secrets_given`), `--help` included: pydantic and
the settings are imported only by the functions that need them, so that `--help` stays fast."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .. import credentials
from ..errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

Flags = Mapping[str, Any]
M = TypeVar("M", bound="BaseModel")


def settings_flags(flags: Flags) -> dict[str, Any]:
    """The settings a command's flags set, by settings key. Unset flags (None, or an unset
    --insecure) are left to the file."""
    from ..settings import FLAG_KEYS

    picked = {key: flags[name] for name, key in FLAG_KEYS.items() if flags.get(name) is not None}
    if picked.get("insecure") is False:  # a plain switch: off means "not given"
        del picked["insecure"]
    return picked


PLAIN_ENV = frozenset({"WEBHOOK_SIM_SHARD"})  # read by webhook-sim, and no credential
SECRET_FLAGS = ("--basic", "--api-key", "--client-secret", "--secret-header")


def secrets_given(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """Every credential on a command line or in the environment, parsed or not: known before
    any parsing, so that even a message about a bad value cannot show one."""
    given = [v for k, v in env.items() if k.startswith("WEBHOOK_SIM_") and v and k not in PLAIN_ENV]
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name in SECRET_FLAGS:
            given.append(value if eq else (argv[i + 1] if i + 1 < len(argv) else ""))
    return [secret for value in given for secret in credentials.secrets_in_spec(value)]


def serving(flags: Flags) -> dict[str, Any]:
    """The connection limits of a server (platform, receiver), as its config's keys."""
    return {
        "max_connections": flags.get("max_connections"),
        "read_timeout_s": flags.get("read_timeout", 10.0),
        "idle_timeout_s": flags.get("idle_timeout", 75.0),
    }


def validated(model: type[M], data: Mapping[str, Any], source: str) -> M:
    """`data` as `model`, or the one-line ConfigError naming the field (`source`: whose)."""
    from pydantic import ValidationError

    from ..settings import describe_validation_error

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source, model=model)) from None
