"""The JSON Schema of every report, generated from the model: `docs/report.schema.json` is
this module's output (`python -m dispatcher.report.schema > docs/report.schema.json`), and a
test fails when the checked-in copy is stale."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from .model import SCHEMA_ID, SCHEMA_VERSION, Report


def report_schema() -> dict[str, Any]:
    schema = TypeAdapter(Report).json_schema(mode="serialization")
    for name in ("RunReport", "LoadReport", "PlatformReport", "CheckReport"):
        # Defaults in the model, but always written: a reader may rely on both.
        required = schema["$defs"][name]["required"]
        required[:0] = [key for key in ("schema_version", "kind") if key not in required]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "webhook-sim report",
        "description": (
            f"A report written by webhook-sim run, load, check or platform (--report-json). "
            f"schema_version {SCHEMA_VERSION}; 'kind' says which."
        ),
        **schema,
    }


def render() -> str:
    return json.dumps(report_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # pragma: no cover - the generator itself
    print(render(), end="")
