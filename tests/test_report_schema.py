"""The typed report: the checked-in JSON Schema is the model's, every kind of report validates
against it and reads back into the same value, and old reports still read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dispatcher.checks.result import CheckResult
from dispatcher.errors import ConfigError
from dispatcher.load import LoadPlan
from dispatcher.metrics import Metrics, record_seconds
from dispatcher.report import (
    check_report,
    load_report,
    platform_report,
    read_load_report,
    read_report,
    run_report,
    scenario_section,
    write_json,
)
from dispatcher.report.model import as_json
from dispatcher.report.schema import render
from dispatcher.settings import Settings, TrafficSettings

from .reportcheck import SCHEMA, problems

SETTINGS = Settings.model_validate(
    {"url": "http://127.0.0.1:9/hook", "auth": {"type": "basic", "basic": "u:secret"}}
)
PASSED = CheckResult("a", "the first", "passed", evidence=("sent x", "got 200"), duration_s=0.1)
FAILED = CheckResult("b", "the second", "failed", "why", ("sent y",), 0.2, needs="200s")


def test_the_checked_in_schema_is_the_models() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == render(), (
        "docs/report.schema.json is stale: python -m dispatcher.report.schema > "
        "docs/report.schema.json"
    )


def metrics() -> Metrics:
    m = Metrics(cap=10)
    m.scheduled = m.delivered = m.attempts_total = m.requests_total = 3
    m.by_outcome["200"] = 3
    for seconds in (0.01, 0.02, 0.03):
        record_seconds(m.latency, seconds)
        record_seconds(m.response, seconds)
    m.second(0).arrivals = 3
    m.duration_s = m.arrival_window_s = 1.0
    return m


def every_kind() -> list[object]:
    m = metrics()
    traffic = TrafficSettings(count=3, seed=1)
    plan = LoadPlan(None, 1.0, traffic)
    section = {
        "outage": "drop",
        "summary": {"processes": 0, "finished": 0, "webhook_missed": 0, "missed_and_polled": 0,
                    "missed_never_learned": 0, "learned_final_after_s_max": None},
        "assertion_signatures": "not verified",
        "connections": None,
        "processes": [],
    }  # fmt: skip
    return [
        run_report(m, SETTINGS),
        run_report(
            m, SETTINGS, traffic=traffic, interrupted="SIGINT",
            scenario=scenario_section("s", "s.yaml", [PASSED, FAILED]),
        ),
        load_report(m, SETTINGS, plan, interrupted=None),
        load_report(
            m, SETTINGS, plan, interrupted=None, workers_failed=["worker 1 died"],
            thresholds=[PASSED],
        ),
        platform_report(m, SETTINGS, section, interrupted=None),
        check_report([PASSED, FAILED], SETTINGS, duration_s=1.5, interrupted=None),
    ]  # fmt: skip


@pytest.mark.parametrize("report", every_kind(), ids=lambda r: type(r).__name__)
def test_every_kind_validates_and_reads_back(report: object, tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_json(path, report)  # type: ignore[arg-type]
    data = json.loads(path.read_text())
    assert problems(data) == []
    assert list(data)[:2] == ["schema_version", "kind"]
    assert data["settings"]["auth"]["basic"] == "***"
    assert read_report(path) == report


def test_optional_sections_are_left_out_not_null(tmp_path: Path) -> None:
    data = as_json(run_report(metrics(), SETTINGS))
    assert "scenario" not in data
    assert "traffic" not in data
    load = as_json(load_report(metrics(), SETTINGS, LoadPlan(None, 1, TrafficSettings()),
                               interrupted=None))  # fmt: skip
    assert "workers_failed" not in load
    assert "thresholds" not in load


def test_the_schema_refuses_what_the_model_would_not_write() -> None:
    data = as_json(run_report(metrics(), SETTINGS))
    assert problems({**data, "schema_version": 2})
    assert problems({**data, "surprise": 1})
    missing = dict(data)
    del missing["notifications"]
    assert problems(missing)
    no_version = dict(data)
    del no_version["schema_version"]
    assert problems(no_version)


def test_a_report_from_before_the_schema_still_reads(tmp_path: Path) -> None:
    data = as_json(load_report(metrics(), SETTINGS, LoadPlan(None, 1, TrafficSettings()),
                               interrupted=None))  # fmt: skip
    del data["schema_version"], data["kind"]
    path = tmp_path / "old.txt"  # not .json: the schema fixture would rightly refuse it
    path.write_text(json.dumps(data))
    assert read_load_report(path).rate.model == "closed"


def test_a_report_of_a_later_version_is_refused_by_name(tmp_path: Path) -> None:
    data = as_json(run_report(metrics(), SETTINGS))
    path = tmp_path / "later.txt"
    path.write_text(json.dumps({**data, "schema_version": 9}))
    with pytest.raises(ConfigError, match="schema_version 9 is not one this webhook-sim reads"):
        read_report(path)
