"""Every report the suite produces is checked against `docs/report.schema.json`.

An autouse fixture looks, after each test, at every JSON file the test left in its tmp_path
(written in-process or by a `webhook-sim` subprocess) and at the report each HTML report
embeds: any that looks like a report (`notifications` or `checks` at the top) must validate,
`schema_version` included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

SCHEMA = Path(__file__).resolve().parent.parent / "docs" / "report.schema.json"
VALIDATED: list[Path] = []  # every report validated in this session (test_report_schema reads it)


@cache
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def looks_like_a_report(data: Any) -> bool:
    return isinstance(data, dict) and bool({"notifications", "checks"} & data.keys())


def problems(data: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator().iter_errors(data)
    ]


_EMBEDDED = re.compile(r'<script type="application/json" id="report">(.*?)</script>', re.S)


def _report_in(path: Path) -> Any:
    """The JSON of a report file, or of the report an HTML report embeds; None if neither."""
    text = path.read_bytes()
    if path.suffix == ".html":
        found = _EMBEDDED.search(text.decode("utf-8", "replace"))
        if found is None:
            return None
        text = found.group(1).encode()  # "<\\/" in it is JSON's own escape of "/"
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None  # tests write broken files on purpose


def check_reports_in(directory: Path) -> list[Path]:
    checked = []
    for path in sorted(directory.rglob("*")):
        if path.suffix not in (".json", ".html") or not path.is_file() or path.is_symlink():
            continue
        data = _report_in(path)
        if not looks_like_a_report(data) or ("schema_version" not in data and _hand_made(data)):
            continue
        found = problems(data)
        assert not found, f"{path} does not match docs/report.schema.json: {found[:5]}"
        checked.append(path)
    return checked


def _hand_made(data: dict[str, Any]) -> bool:
    # Tests feed `report` files they wrote by hand (hostile input): a report the tool wrote
    # always has a settings section and a duration.
    return not {"settings", "duration_s"} <= data.keys()


@pytest.fixture(autouse=True)
def _reports_match_the_schema(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    tmp = request.node.funcargs.get("tmp_path")
    if isinstance(tmp, Path) and tmp.is_dir():
        VALIDATED.extend(check_reports_in(tmp))
