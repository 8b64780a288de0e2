"""The scenarios and example configs installed with the package, so that a `pip install`
anywhere has them: `scenario:NAME` names one where a scenario file is taken, `example:NAME`
one where a --config file is. In a clone, `scenarios/` and `config/` at the top are links to
the directories here (the files live in the package because only the package is installed).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from ..errors import ConfigError

SCENARIO_PREFIX, EXAMPLE_PREFIX = "scenario:", "example:"


def _directory(kind: str) -> Path:
    # pip installs a package unpacked, so its data are files on disk: scenario and config
    # loading, and their error messages, work with paths. Missing, the install is broken.
    root = resources.files(__name__) / kind
    if not isinstance(root, Path) or not root.is_dir():
        raise ConfigError(f"{root}: no such directory: the installed {kind} are missing "
                          "(reinstall webhook-sim)")  # fmt: skip
    return root


def scenario_files() -> dict[str, Path]:
    """The installed scenarios by name (their file's stem), in name order."""
    return {p.stem: p for p in sorted(_directory("scenarios").glob("*.yaml"))}


def example_files() -> dict[str, Path]:
    """The example --config files by name (their file's stem), in name order."""
    found = sorted(_directory("config").iterdir())
    return {p.stem: p for p in found if p.suffix in (".toml", ".yaml", ".yml")}


def _named(value: Path, prefix: str, listed: Callable[[], dict[str, Path]], what: str) -> Path:
    text = str(value)
    if not text.startswith(prefix):
        return value  # a file of the user's: the installed ones are not even looked at
    files = listed()
    if text.removeprefix(prefix) not in files:
        raise ConfigError(
            f"{what}: no {prefix[:-1]} of that name is installed (available: "
            f"{', '.join(prefix + n for n in files)}; 'webhook-sim scenarios' lists them)"
        )
    return files[text.removeprefix(prefix)]


def scenario_path(value: Path) -> Path:
    """The file `scenario:NAME` names; any other path as it is."""
    return _named(value, SCENARIO_PREFIX, scenario_files, str(value))


def example_path(value: Path) -> Path:
    """The file `example:NAME` names; any other path as it is."""
    return _named(value, EXAMPLE_PREFIX, example_files, f"--config {value}")


def _summary(path: Path) -> str:
    """An example config's own description: the first sentence of its opening comment."""
    comment = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        comment.append(line.removeprefix("#").strip())
    return re.split(r"(?<=[.;])\s", " ".join(comment))[0].rstrip(".;")


def print_catalogue() -> int:
    """`webhook-sim scenarios`: each scenario with its description, each example config with
    its summary, and the directories they are in (to copy one); exit code 0."""
    # scenario imports the settings and checks, and they import this module.
    from ..scenario import load_scenario

    sections = [
        ("Scenarios (webhook-sim run scenario:NAME --url URL)", "scenarios", SCENARIO_PREFIX,
         {name: load_scenario(p).description for name, p in scenario_files().items()}),
        ("Example configs (--config example:NAME)", "config", EXAMPLE_PREFIX,
         {name: _summary(p) for name, p in example_files().items()}),
    ]  # fmt: skip
    width = 2 + max(len(prefix + name) for _, _, prefix, rows in sections for name in rows)
    for i, (title, kind, prefix, rows) in enumerate(sections):
        if i:
            print()
        print(f"{title}, in {_directory(kind)}:")
        for name, about in rows.items():
            print(f"  {prefix + name:<{width}}{' '.join(about.split())}")
    return 0
