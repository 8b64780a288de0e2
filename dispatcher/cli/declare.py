"""Declaring a command by the parameters it takes (`dispatcher.jobs.params`), instead of
re-declaring each option: typer reads options from a function's signature, so `command`
builds that signature, and calls the command's body with one mapping of every value."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from ..jobs.flags import Flags as Flags  # what a command's body is given
from ..jobs.params import Param, metavar, resolve

Body = Callable[[Flags], int]


class _Command(typer.core.TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for q in self.params:  # an argument's help: its name (SCENARIO), not typer's `<path>`
            if isinstance(q, typer.core.TyperArgument):
                q.display_type_rich = lambda ctx: None  # type: ignore[method-assign]


def _parameter(param: Param) -> inspect.Parameter:
    flags, help_ = param.flags, param.help
    info = (typer.Option(*flags, help=help_, metavar=metavar(param)) if flags
            else typer.Argument(help=help_, metavar=param.name.upper()))  # fmt: skip
    default = inspect.Parameter.empty if param.default is ... else param.default
    return inspect.Parameter(
        param.name, inspect.Parameter.KEYWORD_ONLY, default=default,
        annotation=Annotated[param.kind, info],
    )  # fmt: skip


def command(app: typer.Typer, params: tuple[str | Param, ...]) -> Callable[[Body], Body]:
    """Register `body` as the command named after it, taking `params` in that order."""

    def decorate(body: Body) -> Body:
        def callback(**values: object) -> int:
            return body(values)

        signature = inspect.Signature([_parameter(q) for q in resolve(params)])
        callback.__signature__ = signature  # type: ignore[attr-defined]
        callback.__doc__ = body.__doc__
        app.command(name=body.__name__.rstrip("_"), cls=_Command)(callback)
        return body

    return decorate
