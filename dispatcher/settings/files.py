"""Reading settings and scenario files: small UTF-8 text, TOML or YAML without the YAML
features that turn a few lines into billions of nodes, bounded nesting, `${VAR}` expansion.
Every problem is a one-line ConfigError naming the file (or table) it is in."""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..bundled import example_path
from ..errors import ConfigError
from ..quoting import shown

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
                f"YAML anchors and aliases are not allowed (found {kind} {shown(event.anchor)})",
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
                        f"{source}: key {shown(key)}{f' in {where}' if where else ''} "
                        "must be a string (quote it)"
                    )
                stack.append((value, depth + 1, f"{where}.{key}" if where else key))
        elif isinstance(node, list | tuple):
            stack.extend((value, depth + 1, where or "the top level") for value in node)


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def _number_problem(exc: Exception) -> str:
    """Python's own message for a huge integer points at sys.set_int_max_str_digits."""
    if "integer string conversion" in str(exc):
        return f"a number has more than {sys.get_int_max_str_digits()} digits"
    return one_line(exc)


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a TOML or YAML settings file (`example:NAME`: an installed example) into a plain
    dict (no validation yet)."""
    path = example_path(path)
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
            raise ConfigError(f"{path}: not valid TOML: {one_line(exc)}") from None
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
