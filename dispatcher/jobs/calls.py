"""Calling a job from Python: keyword arguments as a command's complete flags, checked as the
command line checks its own, and a coroutine run to completion from code without a loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Collection, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from ..errors import ConfigError
from ..redact import REDACTOR
from . import params
from .flags import secrets_given

T = TypeVar("T")


def _checked(param: params.Param, value: Any) -> Any:
    """`value` as the parameter's type, or a ConfigError naming it: the command line's parser
    never hands a job "3" for a number, nor a job a list of characters for a list."""
    kind = param.kind
    if "Path" in str(kind):  # a path given as text, as on the command line
        if isinstance(value, str):
            value = Path(value)
        elif isinstance(value, list):
            value = [Path(v) if isinstance(v, str) else v for v in value]
    try:
        return TypeAdapter(kind).validate_python(value, strict=True)
    except ValidationError:
        shown = REDACTOR.scrub(repr(value))[:80]
        wanted = str(kind).replace("typing.", "").replace("pathlib.", "")
        wanted = wanted.replace("<class '", "").replace("'>", "")
        raise ConfigError(f"{param.name}={shown}: must be {wanted}") from None


def flags_for(
    command: tuple[str | params.Param, ...],
    url: str | None,
    options: Mapping[str, Any],
    allowed: Collection[str] | None = None,
) -> dict[str, Any]:
    """The options as a command's complete flags: every default filled in, a name refused
    unless it is in `allowed` (default: every option of the command), each value checked.
    Every credential among them is masked in whatever is said afterwards."""
    known = {p.name: p for p in params.resolve(command)}
    names = set(known) if allowed is None else set(allowed) & set(known)
    argv = []
    for name, value in options.items():
        for item in value if isinstance(value, list) else [value]:
            argv += ["--" + name.replace("_", "-"), str(item)]
    REDACTOR.add_all(secrets_given(argv, os.environ))
    for name in options:
        if name not in names:
            raise ConfigError(
                f"{name}=: not an option of this call (allowed: {', '.join(sorted(names))})"
            )
    flags = {name: (None if p.default is ... else p.default) for name, p in known.items()}
    flags.update({name: _checked(known[name], value) for name, value in options.items()})
    if url is not None:
        flags["url"] = url
    return flags


def blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on a new event loop; refused inside a running one (it would block it)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError("an event loop is running here: await the coroutine instead")
