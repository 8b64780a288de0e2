"""The house rules that keep the code easy to change, as numbers a change cannot quietly break:
small modules, a thin command line, short command functions.

`python tests/test_structure.py` prints the figures."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dispatcher"
MODULE_MAX = 450  # lines in any module of the package
CLI_MAX = 500  # lines in the whole command-line layer
FUNCTION_MAX = 40  # lines in any function of the command-line layer


def lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def long_functions(directory: Path, limit: int) -> list[str]:
    """`file:line name (N lines)` for each function over `limit` lines, decorators included."""
    found = []
    for path in sorted(directory.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = (node.end_lineno or node.lineno) - start + 1
                if length > limit:
                    found.append(f"{path.relative_to(directory)}:{start} {node.name} ({length})")
    return found


def test_no_module_is_over_the_limit() -> None:
    over = [
        f"{p.relative_to(PACKAGE)} ({lines(p)})"
        for p in sorted(PACKAGE.rglob("*.py"))
        if lines(p) > MODULE_MAX
    ]
    assert not over, f"modules over {MODULE_MAX} lines: {over}"


def test_the_command_line_is_thin() -> None:
    total = sum(lines(p) for p in (PACKAGE / "cli").rglob("*.py"))
    assert total < CLI_MAX, f"dispatcher/cli is {total} lines (limit {CLI_MAX})"


def test_no_command_line_function_is_long() -> None:
    long = long_functions(PACKAGE / "cli", FUNCTION_MAX)
    assert not long, f"functions over {FUNCTION_MAX} lines in dispatcher/cli: {long}"


def test_the_rule_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_MAX))
    (tmp_path / "m.py").write_text(f"@decorator\ndef f():\n{body}\n")
    assert [entry.split(" ")[1] for entry in long_functions(tmp_path, FUNCTION_MAX)] == ["f"]


if __name__ == "__main__":
    print(f"dispatcher/cli: {sum(lines(p) for p in (PACKAGE / 'cli').rglob('*.py'))} lines")
    biggest = sorted(PACKAGE.rglob("*.py"), key=lines, reverse=True)[:5]
    print("largest modules:", ", ".join(f"{p.relative_to(PACKAGE)} {lines(p)}" for p in biggest))
    print("longest cli functions:", long_functions(PACKAGE / "cli", 25) or "none over 25 lines")
