"""Declaring a command by the options it takes, by name, instead of re-declaring each one.

typer reads a command's options from its function's signature; `command` builds that signature
from `options.OPTIONS` (plus the command's own options), and calls the command's body with one
mapping of every value, so a body is the few lines that make its work, not forty parameters.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import typer

from ..jobs.flags import Flags as Flags  # what a command's body is given
from .options import OPTIONS, Opt

Body = Callable[[Flags], int]


def command(
    app: typer.Typer, names: Iterable[str | tuple[str, Opt]], *, name: str | None = None
) -> Callable[[Body], Body]:
    """Register `body` as a command taking the options `names` (in that order): a name from
    `OPTIONS`, or `(name, Opt)` for one of the command's own (or its variant of a shared one)."""

    def decorate(body: Body) -> Body:
        params = []
        for entry in names:
            key, opt = entry if isinstance(entry, tuple) else (entry, OPTIONS[entry])
            params.append(
                inspect.Parameter(
                    key,
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=opt.annotation,
                    default=inspect.Parameter.empty if opt.default is ... else opt.default,
                )
            )

        def callback(**values: Any) -> int:
            return body(values)

        callback.__signature__ = inspect.Signature(params, return_annotation=int)  # type: ignore[attr-defined]
        callback.__name__ = body.__name__
        callback.__doc__ = body.__doc__
        app.command(name=name or body.__name__.rstrip("_"))(callback)
        return body

    return decorate
