"""action.yml, the composite GitHub Action: its shape, and its steps run as a runner would run
them (each `run:` with bash, `${{ }}` expressions substituted, `if:` judged) against the
sandbox receiver, from the install to the JUnit file the upload step takes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from junitparser import Failure, JUnitXml

REPO = Path(__file__).resolve().parent.parent
ACTION: dict[str, Any] = yaml.safe_load((REPO / "action.yml").read_text())
STEPS: list[dict[str, Any]] = ACTION["runs"]["steps"]
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
STEP_S = 600  # how long one step may take before the test gives up: never a measurement


def evaluate(expression: str, inputs: Mapping[str, str], action_path: Path = REPO) -> str:
    """The value of one `${{ }}` expression of the few forms action.yml uses; anything else
    fails the test, so that a new expression cannot be run here as something it is not."""
    if expression == "github.action_path":
        return str(action_path)
    if match := re.fullmatch(r"inputs\.([a-z][a-z0-9-]*)", expression):
        name = match.group(1)
        assert name in ACTION["inputs"], f"undeclared input {name!r}"
        return inputs.get(name, ACTION["inputs"][name].get("default", ""))
    raise AssertionError(f"an expression this test does not know: ${{{{ {expression} }}}}")


def substitute(text: str, inputs: Mapping[str, str], action_path: Path = REPO) -> str:
    return EXPRESSION.sub(lambda m: evaluate(m.group(1), inputs, action_path), text)


def should_run(condition: str | None, inputs: Mapping[str, str], failed: bool) -> bool:
    """GitHub's rule: a step runs when its `if:` is true, and an `if:` without a status
    function (always(), !cancelled(), failure()) means `success() && (...)`."""
    text = EXPRESSION.fullmatch(condition.strip()) if condition else None
    terms = [t.strip() for t in (text.group(1) if text else condition or "").split("&&") if t]
    status_checked = False
    verdict = True
    for term in terms:
        if term in ("always()", "!cancelled()"):  # nothing here is ever cancelled
            status_checked = True
        elif term == "failure()":
            status_checked, verdict = True, verdict and failed
        elif term == "success()":
            status_checked, verdict = True, verdict and not failed
        elif match := re.fullmatch(r"inputs\.([a-z][a-z0-9-]*) (==|!=) ''", term):
            empty = evaluate(f"inputs.{match.group(1)}", inputs) == ""
            verdict = verdict and (empty if match.group(2) == "==" else not empty)
        else:
            raise AssertionError(f"an if: term this test does not know: {term!r}")
    return verdict and (status_checked or not failed)


@dataclass
class Outcome:
    ran: list[str] = field(default_factory=list)  # the steps run, by name or uses
    failed: str | None = None  # the first step that failed
    output: str = ""
    uploads: list[Path] = field(default_factory=list)  # what upload-artifact would take


def run_action(
    inputs: Mapping[str, str], workspace: Path, env: Mapping[str, str], action_path: Path
) -> Outcome:
    """Run the action's steps in order in `workspace`, the action checked out at `action_path`.
    `uses:` steps are not run: setup-python is stood in for by the `python` on env's PATH;
    upload-artifact's paths are collected."""
    outcome = Outcome()
    for step in STEPS:
        name = step.get("name") or step["uses"]
        if not should_run(step.get("if"), inputs, outcome.failed is not None):
            continue
        outcome.ran.append(name)
        if "uses" in step:
            if step["uses"].startswith("actions/upload-artifact@"):
                paths = substitute(step["with"]["path"], inputs).split()
                outcome.uploads = [workspace / p for p in paths]
            continue
        assert step["shell"] == "bash"
        env_ = step.get("env", {})
        step_env = {k: substitute(str(v), inputs, action_path) for k, v in env_.items()}
        script = workspace / ".step.sh"
        script.write_text(substitute(step["run"], inputs, action_path))
        done = subprocess.run(
            # The command line GitHub runs a `shell: bash` step with.
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace, env={**env, **step_env}, capture_output=True, text=True,
            timeout=STEP_S,
        )  # fmt: skip
        outcome.output += f"--- {name}: exit {done.returncode}\n{done.stdout}{done.stderr}"
        if done.returncode != 0 and outcome.failed is None:
            outcome.failed = name
    return outcome


def test_action_is_a_composite_with_the_inputs_it_documents() -> None:
    assert ACTION["runs"]["using"] == "composite"
    for name in ("url", "auth", "basic", "api-key", "client-secret", "token-url", "client-id",
                 "checks", "args", "junit", "scenario", "python-version"):  # fmt: skip
        assert ACTION["inputs"][name]["description"]
    assert ACTION["inputs"]["url"]["required"] is True
    uses = {step["uses"].split("@")[0]: step for step in STEPS if "uses" in step}
    assert set(uses) == {"actions/setup-python", "actions/upload-artifact"}
    assert all(re.fullmatch(r"v\d+", s["uses"].split("@")[1]) for s in uses.values())
    assert uses["actions/setup-python"]["with"]["python-version"] == "${{ inputs.python-version }}"
    upload = uses["actions/upload-artifact"]
    assert upload["if"] == "${{ always() }}"
    assert "${{ inputs.junit }}" in upload["with"]["path"].split("\n")
    for step in STEPS:
        if "run" in step:
            assert step["shell"] == "bash"
            # Inputs reach a script through its environment only: pasted into the script, a
            # value with quotes or $(...) in it would be run as shell code.
            assert "${{" not in step["run"], step["name"]


def test_credentials_reach_the_tool_through_its_environment_variables_only() -> None:
    for step in STEPS:
        env = step.get("env", {})
        for input_name, var in (("basic", "WEBHOOK_SIM_BASIC"), ("api-key", "WEBHOOK_SIM_API_KEY"),
                                ("client-secret", "WEBHOOK_SIM_CLIENT_SECRET")):  # fmt: skip
            reference = f"${{{{ inputs.{input_name} }}}}"
            assert [k for k, v in env.items() if v == reference] in ([], [var]), step
        assert "--basic" not in step.get("run", "")
        assert "--api-key" not in step.get("run", "")
        assert "--client-secret" not in step.get("run", "")


def test_the_harness_refuses_what_it_does_not_know() -> None:
    with pytest.raises(AssertionError, match="does not know"):
        substitute("${{ secrets.X }}", {})
    with pytest.raises(AssertionError, match="undeclared input"):
        substitute("${{ inputs.nope }}", {})
    with pytest.raises(AssertionError, match="does not know"):
        should_run("${{ github.event_name == 'push' }}", {}, failed=False)
    assert should_run(None, {}, failed=False)
    assert not should_run(None, {}, failed=True)
    assert should_run("${{ always() }}", {}, failed=True)
    assert not should_run("${{ !cancelled() && inputs.scenario != '' }}", {}, failed=True)
    assert should_run("${{ !cancelled() && inputs.scenario != '' }}", {"scenario": "x"}, True)
    assert not should_run("inputs.scenario != ''", {"scenario": "x"}, failed=True)


@pytest.fixture(scope="module")
def action_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The action as a runner checks it out: the repository's files the install needs. A copy,
    because pip builds in the directory it installs from (build/, *.egg-info), and two test
    runs in one clone would build there at once."""
    checkout = tmp_path_factory.mktemp("action")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("dispatcher", "webhook_sim"):
        shutil.copytree(REPO / name, checkout / name, ignore=ignore)
    for name in ("action.yml", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, checkout / name)
    return checkout


@pytest.fixture(scope="module")
def python_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv standing in for the runner's setup-python: the action's install step
    installs webhook-sim into it (its dependencies from the package index pip is configured
    with, as `make test`'s own install)."""
    venv = tmp_path_factory.mktemp("runner") / "python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=STEP_S)
    return venv / "bin"


def runner_env(python_bin: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**env, "PATH": f"{python_bin}:{env['PATH']}"}


SECRET = "ci:Act10n-S3cret"


@pytest.mark.e2e  # installs webhook-sim into a fresh venv, runs whole check suites
def test_action_steps_pass_against_a_conforming_receiver_and_fail_against_a_flawed_one(
    python_bin: Path, action_path: Path, tmp_path: Path, shared_receiver: Callable[..., str]
) -> None:
    env = runner_env(python_bin)
    good = shared_receiver("--auth", "basic", "--basic", SECRET)
    inputs = {"url": good + "/hook", "basic": SECRET, "scenario": "scenario:smoke",
              "args": "--seed 3"}  # fmt: skip
    (ok_dir := tmp_path / "ok").mkdir()
    assert not (python_bin / "webhook-sim").exists()  # until the action's install step
    ok = run_action(inputs, ok_dir, env, action_path)
    assert ok.failed is None, ok.output
    assert ok.ran == ["actions/setup-python@v5", "Install webhook-sim", "webhook-sim check",
                      "webhook-sim scenario", "Upload the JUnit files"]  # fmt: skip
    # The webhook-sim the steps ran is the one the install step put in the runner's Python.
    assert (python_bin / "webhook-sim").exists()
    check_xml, scenario_xml = ok.uploads
    assert check_xml == ok_dir / "reports/webhook-sim.xml"
    cases = [case for suite in JUnitXml.fromfile(str(check_xml)) for case in suite]
    assert len(cases) == 9  # every check but denied-source, which needs --denied-source
    assert not any(isinstance(r, Failure) for case in cases for r in case.result)
    scenario_cases = [case for suite in JUnitXml.fromfile(str(scenario_xml)) for case in suite]
    assert len(scenario_cases) == 3
    assert "Act10n-S3cret" not in ok.output + check_xml.read_text()

    # A receiver that takes any credentials: the check step fails, the scenario and the
    # upload still run, and the JUnit file names the broken rule.
    flawed = shared_receiver("--auth", "basic", "--basic", SECRET, "--flaw", "any-credentials")
    inputs = {"url": flawed + "/hook", "basic": SECRET, "junit": "out/check.xml",
              "checks": "rejects-bad-credentials accepts-notified-statuses"}  # fmt: skip
    (bad_dir := tmp_path / "bad").mkdir()
    bad = run_action(inputs, bad_dir, env, action_path)
    assert bad.failed == "webhook-sim check", bad.output
    assert "webhook-sim scenario" not in bad.ran  # no scenario asked for
    assert bad.ran[-1] == "Upload the JUnit files"
    assert bad.uploads[0] == bad_dir / "out/check.xml"
    verdicts = {
        case.name: [r for r in case.result if isinstance(r, Failure)]
        for suite in JUnitXml.fromfile(str(bad.uploads[0]))
        for case in suite
    }
    assert set(verdicts) == {"rejects-bad-credentials", "accepts-notified-statuses"}
    assert verdicts["rejects-bad-credentials"]
    assert not verdicts["accepts-notified-statuses"]
    assert "Act10n-S3cret" not in bad.output


def test_the_workflow_in_docs_ci_gives_the_action_inputs_it_has() -> None:
    text = (REPO / "docs/ci.md").read_text()
    workflows = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    steps = [s for w in workflows for job in w.get("jobs", {}).values() for s in job["steps"]]
    (step,) = [s for s in steps if s.get("uses", "").split("@")[0].endswith("/webhook-sim")]
    assert set(step["with"]) <= set(ACTION["inputs"])
    assert "url" in step["with"]
    assert step["with"]["basic"] == "${{ secrets.RECEIVER_BASIC }}"
