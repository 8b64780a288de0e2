"""docs/api.md, generated from the public API itself: every public name, each function's
signature, each option with its type, default and meaning (from `dispatcher.jobs.params`).

`python -m tests.apidoc > docs/api.md` writes it; tests/test_api.py fails when the checked-in
file differs, so a public name cannot be added, removed or changed without the docs."""

from __future__ import annotations

import inspect
import typing
from typing import Any

from dispatcher import api
from dispatcher.jobs import params

INTRO = """\
# The Python API

`webhook_sim` (the same as `dispatcher.api`) runs the command line's work from Python, with no
subprocess and no parsing of output: `send`, `run`, `check` and `load` are coroutines, and
`send_sync`, `run_sync`, `check_sync` and `load_sync` run them for code without an event loop.

```python
import webhook_sim


async def test_receiver_meets_the_contract(my_app_url: str) -> None:
    result = await webhook_sim.check(my_app_url, basic="integrator:s3cret")
    assert result.passed, result.summary()


result = webhook_sim.run_sync("http://127.0.0.1:8080/webhook", count=50, duplicates=0.2)
assert result.report.notifications.delivered == result.report.notifications.scheduled
```

- **Options** are the command line's, by the same names with `_` for `-`
  (`--max-attempts 3` is `max_attempts=3`). A settings file is `config=Path(...)`, and
  credentials fall back to the same environment variables as the command line. An unknown name
  raises `ConfigError`, naming the allowed ones. With mypy, the option names and types are
  checked (`**options: Unpack[RunOptions]`).
- **Results** are the typed values the command line renders. A `report` is the JSON report's
  model (docs/report.schema.json), `passed` is the command's exit status as a bool, and
  `CheckRun.summary()` lists each failed check with its evidence.
- **Errors** belong to one tree, `WebhookSimError`. Bad input raises `ConfigError` with the
  command line's one-line message. Nothing here prints, installs signal handlers or sends
  anywhere but the URL given.

The package ships `py.typed`. This file is generated (`python -m tests.apidoc > docs/api.md`);
a test fails when it is out of date.
"""

COMMANDS = {"SendOptions": params.SEND, "RunOptions": params.RUN, "CheckOptions": params.CHECK,
            "LoadOptions": params.LOAD}  # fmt: skip


def _type(hint: Any) -> str:
    text = str(hint).replace("typing.", "").replace("pathlib.", "")
    return text.replace("<class '", "").replace("'>", "")


def _default(param: params.Param, typed: str) -> str:
    if param.name in api.API_DEFAULTS.get(typed, {}):
        return f"`{api.API_DEFAULTS[typed][param.name]!r}` (the command line: `{param.default!r}`)"
    return "required" if param.default is ... else f"`{param.default!r}`"


def options_table(name: str) -> list[str]:
    known = {p.name: p for p in params.resolve(COMMANDS[name])}
    hints = typing.get_type_hints(getattr(api, name))
    lines = ["| option | type | default | what it does |", "|---|---|---|---|"]
    for key, hint in hints.items():
        p = known[key]
        flag = "/".join(p.flags) if p.flags else "argument"
        cells = (f"`{key}`", f"`{_type(hint)}`", _default(p, name), f"{p.help} (`{flag}`)")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def render() -> str:
    out = [INTRO, "## Functions", ""]
    for name in api.__all__:
        obj = getattr(api, name)
        if inspect.isfunction(obj):
            prefix = "async def" if inspect.iscoroutinefunction(obj) else "def"
            signature = str(inspect.signature(obj)).replace("'", "")
            out += [f"### `{name}`", "", "```python", f"{prefix} {name}{signature}", "```", ""]
            out += [inspect.getdoc(obj) or "", ""]
    out += ["## Options", ""]
    for name in api.__all__:
        if name in COMMANDS:
            out += [f"### `{name}`", "", *options_table(name), ""]
    out += ["## Results and errors", ""]
    for name in api.__all__:
        obj = getattr(api, name)
        if inspect.isclass(obj) and name not in COMMANDS:
            doc = (inspect.getdoc(obj) or "").split("\n\n")[0].replace("\n", " ")
            members = [*getattr(obj, "__dataclass_fields__", {})]
            members += [m for m, v in vars(obj).items() if not m.startswith("_")
                        and (isinstance(v, property) or inspect.isfunction(v))]  # fmt: skip
            shown = f" Members: {', '.join(f'`{m}`' for m in members)}." if members else ""
            out += [f"- `{name}`: {doc}{shown}"]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
