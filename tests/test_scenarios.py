"""Scenario files: every shipped one green against the sandbox; bad ones refused precisely."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml

from dispatcher import bundled
from dispatcher.bundled import example_files, scenario_files
from dispatcher.cli import main
from dispatcher.scenario import load_scenario
from dispatcher.settings import build_settings

Receiver = Callable[..., str]
SHIPPED = sorted(Path("scenarios").glob("*.yaml"))


def test_the_required_scenarios_ship() -> None:
    names = {p.stem for p in SHIPPED}
    assert {
        "smoke",
        "idempotency",
        "reorder",
        "unknown-status",
        "retry-storm",
        "auth",
        "burst-500",
    } <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_is_green_against_the_sandbox(
    shared_receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str], path: Path
) -> None:
    auth = ["--auth", "basic", "--basic", "u:Scen-S3cret"] if path.stem == "auth" else []
    url = shared_receiver(*auth)
    junit, report = tmp_path / "s.xml", tmp_path / "s.json"
    code = main(
        ["run", str(path), "--url", url + "/hook", "--seed", "3", "--junit", str(junit),
         "--report-json", str(report), *auth[2:]]
    )  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0, out
    data = json.loads(report.read_text())
    assert data["scenario"]["passed"] is True
    n = data["notifications"]
    assert n["delivered"] + n["exhausted"] + n["cancelled"] == n["scheduled"]
    cases = [case for suite in JUnitXml.fromfile(str(junit)) for case in suite]
    assert len(cases) == len(data["scenario"]["expectations"]) > 0
    assert "Scen-S3cret" not in out + report.read_text() + junit.read_text()


def test_failed_expectation_exits_1_and_says_why(
    shared_receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = shared_receiver("--fail-rate", "1")
    scenario = tmp_path / "strict.yaml"
    scenario.write_text(
        "name: strict\nsettings: {max_attempts: 1}\ntraffic: {count: 10}\n"
        "expect: ['delivered_ratio >= 0.99', 'failure_rate < 0.5', 'cancelled == 0']\n"
    )
    junit = tmp_path / "j.xml"
    code = main(["run", str(scenario), "--url", url, "--junit", str(junit)])
    out, _ = capsys.readouterr()
    assert code == 1
    assert "delivered_ratio was 0, expected >= 0.99" in out
    failures = {
        case.name: [r.message for r in case.result if isinstance(r, Failure)]
        for suite in JUnitXml.fromfile(str(junit))
        for case in suite
    }
    assert failures["delivered_ratio >= 0.99"] == ["delivered_ratio was 0, expected >= 0.99"]
    assert failures["failure_rate < 0.5"] == ["failure_rate was 1, expected < 0.5"]
    assert failures["cancelled == 0"] == []


def test_flags_override_scenario_settings(
    shared_receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = shared_receiver()
    report = tmp_path / "r.json"
    code = main(
        ["run", "scenarios/smoke.yaml", "--url", url, "--count", "7", "--max-attempts", "2",
         "--report-json", str(report)]
    )  # fmt: skip
    capsys.readouterr()
    assert code == 0
    data = json.loads(report.read_text())
    assert data["traffic"]["count"] == 7
    assert data["settings"]["max_attempts"] == 2
    assert data["settings"]["interval_s"] == 0.2  # from the scenario


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\ncolour: red\n", "unknown key 'colour' (allowed: name, description, settings"),
        ("name: x\ntraffic: {count: many}\n", "traffic.count = 'many'"),
        ("name: x\ntraffic: {count: -1}\n", "traffic.count = -1: Input should be greater than"),
        ("name: x\ntraffic: {duplicates: 2}\n", "traffic.duplicates = 2"),
        ("name: x\ntraffic: {rat: 5}\n", "unknown key 'traffic.rat' (allowed: count, statuses"),
        ("name: x\nexpect: ['p99_ms < fast']\n", "expect[0]"),
        ("name: x\nexpect: ['ok', 'speed > 1']\n", "is not 'METRIC OP VALUE'"),
        ("name: x\nexpect: ['p99_ms < 1', 'speed > 1']\n", "unknown metric 'speed' (allowed:"),
        ("name: x\nsettings: {concurrency: 501}\n", "settings: concurrency = 501"),
        ("name: x\nsettings: {colour: 1}\n", "unknown key 'colour' (allowed: url, flow"),
        ("traffic: {count: 1}\n", "name"),
        ("- a list\n", "a scenario is a table"),
        ("name: &n x\n", "line 1: YAML anchors and aliases are not allowed (found anchor 'n')"),
        ("name: x\nsettings: {url: *u}\n", "YAML anchors and aliases are not allowed"),
        ('name: "a\\x1b[2J"\n', "name = 'a\\x1b[2J': must not contain control characters"),
        ("name: ''\n", "name = '': String should have at least 1 character"),
        ("name: x\nsettings: {max_interval_s: 1, interval_s: 5}\n", "settings: max_interval_s"),
        (
            "name: x\nsettings: {auth: {token_url: 'http://u:pw@127.0.0.1:9/t'}}\n",
            "settings: auth.token_url = 'http://***@127.0.0.1:9/t': credentials in the URL",
        ),
        ("name: x\ntraffic: {count: " + "9" * 5000 + "}\n", "a number has more than 4300"),
    ],
)
def test_bad_scenarios_name_file_key_and_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(text)
    code = main(["run", str(scenario), "--url", "http://127.0.0.1:9/"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1, err
    assert str(scenario) in err
    assert expected in err, err


def test_the_installed_scenarios_and_examples_are_the_clones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # scenarios/ and config/ at the top of a clone are the package's own directories.
    assert scenario_files() == {p.stem: p.resolve() for p in SHIPPED}
    assert set(example_files()) == {p.stem for p in Path("config").iterdir()}
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    for name, path in scenario_files().items():
        description = load_scenario(path).description
        assert f"  scenario:{name} " in out
        assert " ".join(description.split()) in out, name
    assert all(f"  example:{name} " in out for name in example_files()), out
    assert f"in {Path('scenarios').resolve()}:" in out  # where to copy one from


def test_run_takes_an_installed_scenario_by_name(
    shared_receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "r.json"
    code = main(["run", "scenario:smoke", "--url", shared_receiver(), "--count", "5",
                 "--report-json", str(report)])  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0, out
    assert "scenario smoke:" in out
    assert json.loads(report.read_text())["scenario"]["file"] == "scenario:smoke"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "scenario:nope"], "scenario:nope: no scenario of that name is installed "
         "(available: scenario:auth, scenario:burst-500,"),
        (["send", "--config", "example:nope"], "--config example:nope: no example of that "
         "name is installed (available: example:api-key, example:basic,"),
    ],
)  # fmt: skip
def test_an_unknown_installed_name_is_one_line_listing_the_names(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    assert main([*args, "--url", "http://127.0.0.1:9/"]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1, err
    assert expected in err, err


def test_config_takes_an_installed_example_by_name() -> None:
    settings = build_settings(config=Path("example:basic"), env={"RECEIVER_BASIC": "u:p"})
    assert settings.auth.type == "basic"
    assert settings.flow == "by-client"


def test_a_broken_install_is_one_line_and_a_users_file_still_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bundled.resources, "files", lambda _: tmp_path)  # nothing installed
    assert main(["scenarios"]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1, err
    assert "the installed scenarios are missing (reinstall webhook-sim)" in err
    assert load_scenario(Path("scenarios/smoke.yaml")).name == "smoke"
