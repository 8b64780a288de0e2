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


# What the runner gives a job outside a matrix: strategy.job-index 0 of job-total 1.
NO_MATRIX = {"strategy.job-index": "0", "strategy.job-total": "1"}


def evaluate(
    expression: str,
    inputs: Mapping[str, str],
    action_path: Path = REPO,
    context: Mapping[str, str] = NO_MATRIX,
) -> str:
    """The value of one `${{ }}` expression of the few forms action.yml uses; anything else
    fails the test, so that a new expression cannot be run here as something it is not.
    `context` holds the strategy values and the outputs of the steps run so far
    (`steps.ID.outputs.NAME`)."""
    if expression == "github.action_path":
        return str(action_path)
    if match := re.fullmatch(r"inputs\.([a-z][a-z0-9-]*)", expression):
        name = match.group(1)
        assert name in ACTION["inputs"], f"undeclared input {name!r}"
        return inputs.get(name, ACTION["inputs"][name].get("default", ""))
    if re.fullmatch(r"strategy\.job-(index|total)|steps\.[a-z-]+\.outputs\.[a-z-]+", expression):
        return context.get(expression, "")  # a step not run, or an output not set: empty
    raise AssertionError(f"an expression this test does not know: ${{{{ {expression} }}}}")


def substitute(
    text: str,
    inputs: Mapping[str, str],
    action_path: Path = REPO,
    context: Mapping[str, str] = NO_MATRIX,
) -> str:
    return EXPRESSION.sub(lambda m: evaluate(m.group(1), inputs, action_path, context), text)


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
    artifact_name: str = ""  # the name it would upload them under


def run_action(
    inputs: Mapping[str, str],
    workspace: Path,
    env: Mapping[str, str],
    action_path: Path,
    strategy: Mapping[str, str] = NO_MATRIX,
    steps: list[dict[str, Any]] = STEPS,
) -> Outcome:
    """Run the action's steps (or some of them) in order in `workspace`, the action checked
    out at `action_path`, as one use of it in a job: `env` is the runner's (PATH, RUNNER_TEMP,
    GITHUB_JOB ...), `strategy` the job's strategy context. `uses:` steps are not run:
    setup-python is stood in for by the `python` on env's PATH (its `python-path` output);
    upload-artifact's paths and name are collected."""
    outcome = Outcome()
    context = dict(strategy)
    for step in steps:
        name = step.get("name") or step["uses"]
        if not should_run(step.get("if"), inputs, outcome.failed is not None):
            continue
        outcome.ran.append(name)
        if "uses" in step:
            if step["uses"].startswith("actions/setup-python@"):
                python = shutil.which("python", path=env["PATH"])
                context[f"steps.{step['id']}.outputs.python-path"] = str(python)
            if step["uses"].startswith("actions/upload-artifact@"):
                paths = substitute(step["with"]["path"], inputs).split()
                outcome.uploads = [workspace / p for p in paths]
                outcome.artifact_name = substitute(step["with"]["name"], inputs, context=context)
            continue
        assert step["shell"] == "bash"
        env_ = step.get("env", {})
        step_env = {k: substitute(str(v), inputs, action_path, context) for k, v in env_.items()}
        script = workspace / ".step.sh"
        script.write_text(substitute(step["run"], inputs, action_path, context))
        github_output = workspace / ".step-output"  # a file of its own for every step
        github_output.write_text("")
        step_env["GITHUB_OUTPUT"] = str(github_output)
        done = subprocess.run(
            # The command line GitHub runs a `shell: bash` step with.
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace, env={**env, **step_env}, capture_output=True, text=True,
            timeout=STEP_S,
        )  # fmt: skip
        outcome.output += f"--- {name}: exit {done.returncode}\n{done.stdout}{done.stderr}"
        if done.returncode != 0 and outcome.failed is None:
            outcome.failed = name
        for line in github_output.read_text().splitlines():  # NAME=VALUE lines only here
            key, _, value = line.partition("=")
            context[f"steps.{step.get('id')}.outputs.{key}"] = value
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
    setup = uses["actions/setup-python"]["with"]
    assert setup["python-version"] == "${{ inputs.python-version }}"
    # Its Python is not put on the caller's PATH: the install step takes it by its path.
    assert setup["update-environment"] == "false"
    upload = uses["actions/upload-artifact"]
    assert upload["if"] == "${{ always() }}"
    assert "${{ inputs.junit }}" in upload["with"]["path"].split("\n")
    # upload-artifact@v4 refuses a name used twice in a run: the name is the prepare step's,
    # unique per job, matrix leg, use and attempt (test_the_artifact_name_is_unique...).
    assert upload["with"]["name"] == "${{ steps.prepare.outputs.artifact-name }}"
    assert ACTION["inputs"]["artifact-name"]["default"] == ""
    for step in STEPS:
        if "run" in step:
            assert step["shell"] == "bash"
            # Inputs reach a script through its environment only: pasted into the script, a
            # value with quotes or $(...) in it would be run as shell code.
            assert "${{" not in step["run"], step["name"]
            # webhook-sim runs from the action's own venv, never from the caller's PATH.
            assert not re.search(r"^\s*(webhook-sim|python|pip) ", step["run"], re.M), step["name"]


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
    with pytest.raises(AssertionError, match="does not know"):
        substitute("${{ matrix.os }}", {})
    assert substitute("${{ strategy.job-index }}/${{ strategy.job-total }}", {}) == "0/1"
    assert substitute("${{ steps.prepare.outputs.artifact-name }}", {}) == ""
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


def runner_env(python_bin: Path | None, runner_temp: Path, **github: str) -> dict[str, str]:
    """What a runner gives a job's steps: PATH (with the runner's Python first), RUNNER_TEMP
    (a directory the job has to itself), GITHUB_JOB (the job's id), GITHUB_RUN_ATTEMPT."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "GITHUB_", "RUNNER_"))}  # fmt: skip
    path = f"{python_bin}:{env['PATH']}" if python_bin else env["PATH"]
    runner_temp.mkdir(exist_ok=True)
    defaults = {"GITHUB_JOB": "conformance", "GITHUB_RUN_ATTEMPT": "1"}
    return {**env, "PATH": path, "RUNNER_TEMP": str(runner_temp), **defaults, **github}


def prepare(env: Mapping[str, str], workspace: Path, inputs: Mapping[str, str] | None = None,
            strategy: Mapping[str, str] = NO_MATRIX) -> Outcome:  # fmt: skip
    """Only the action's first step, Prepare, as run_action runs it; the name it hands to
    upload-artifact in `artifact_name`."""
    (step,) = [s for s in STEPS if s.get("id") == "prepare"]
    assert STEPS[0] is step  # before anything is set up or installed
    upload = next(s for s in STEPS if s.get("uses", "").startswith("actions/upload-artifact@"))
    return run_action(inputs or {"url": "http://x"}, workspace, env, REPO, strategy, [step, upload])


def test_the_artifact_name_is_unique_per_job_matrix_leg_use_and_attempt(tmp_path: Path) -> None:
    names = []
    # Two jobs, one use each.
    for job in ("conformance", "nightly"):
        env = runner_env(None, tmp_path / f"{job}-temp", GITHUB_JOB=job)
        names.append(prepare(env, tmp_path).artifact_name)
    assert names == ["webhook-sim-junit-conformance", "webhook-sim-junit-nightly"]
    # A matrix job of three legs, each on a runner (a RUNNER_TEMP) of its own.
    for leg in range(3):
        env = runner_env(None, tmp_path / f"leg{leg}-temp", GITHUB_JOB="matrix")
        strategy = {"strategy.job-index": str(leg), "strategy.job-total": "3"}
        names.append(prepare(env, tmp_path, strategy=strategy).artifact_name)
    assert names[2:] == [f"webhook-sim-junit-matrix-{leg}" for leg in range(3)]
    # Three uses of the action in one job, then a re-run of that job.
    env = runner_env(None, tmp_path / "uses-temp", GITHUB_JOB="twice")
    names += [prepare(env, tmp_path).artifact_name for _ in range(3)]
    assert names[5:] == ["webhook-sim-junit-twice", "webhook-sim-junit-twice-2",
                         "webhook-sim-junit-twice-3"]  # fmt: skip
    env = runner_env(None, tmp_path / "rerun-temp", GITHUB_JOB="twice", GITHUB_RUN_ATTEMPT="2")
    names.append(prepare(env, tmp_path).artifact_name)
    assert names[-1] == "webhook-sim-junit-twice-attempt2"
    assert len(set(names)) == len(names)
    # Characters upload-artifact refuses in a name cannot come from a job id ([A-Za-z0-9_-]).
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", name) for name in names)
    # A name given is used as it is (in a matrix: artifact-name: junit-${{ matrix.x }}).
    env = runner_env(None, tmp_path / "given-temp")
    given = prepare(env, tmp_path, {"url": "http://x", "artifact-name": "junit-py3.12 $(x)"})
    assert given.artifact_name == "junit-py3.12 $(x)"


def test_a_windows_runner_is_refused_in_one_line_before_anything_is_installed(
    tmp_path: Path,
) -> None:
    env = runner_env(None, tmp_path / "temp", RUNNER_OS="Windows")
    outcome = prepare(env, tmp_path)
    assert outcome.failed == "Prepare"
    assert "::error::the webhook-sim action runs on Linux and macOS runners only" in outcome.output
    assert outcome.ran == ["Prepare", "Upload the JUnit files"]  # if-no-files-found: warn


def installed(venv: Path) -> list[str]:
    """What a venv holds, without the byte code its Python writes as it runs."""
    return sorted(str(p.relative_to(venv)) for p in venv.rglob("*") if "__pycache__" not in p.parts)


SECRET = "ci:Act10n-S3cret"


@pytest.mark.e2e  # installs webhook-sim into a fresh venv, runs whole check suites
def test_action_steps_pass_against_a_conforming_receiver_and_fail_against_a_flawed_one(
    python_bin: Path, action_path: Path, tmp_path: Path, shared_receiver: Callable[..., str]
) -> None:
    env = runner_env(python_bin, tmp_path / "ok-temp")
    runner_python = installed(python_bin.parent)
    good = shared_receiver("--auth", "basic", "--basic", SECRET)
    inputs = {"url": good + "/hook", "basic": SECRET, "scenario": "scenario:smoke",
              "args": "--seed 3"}  # fmt: skip
    (ok_dir := tmp_path / "ok").mkdir()
    ok = run_action(inputs, ok_dir, env, action_path)
    assert ok.failed is None, ok.output
    assert ok.ran == ["Prepare", "actions/setup-python@v5", "Install webhook-sim",
                      "webhook-sim check", "webhook-sim scenario",
                      "Upload the JUnit files"]  # fmt: skip
    assert ok.artifact_name == "webhook-sim-junit-conformance"
    # webhook-sim and its dependencies went into the action's own venv under RUNNER_TEMP; the
    # runner's Python, the one the caller's other steps use, is as it was.
    assert (tmp_path / "ok-temp/webhook-sim-venv/bin/webhook-sim").exists()
    assert installed(python_bin.parent) == runner_python
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
    env = runner_env(python_bin, tmp_path / "bad-temp", GITHUB_JOB="flawed")
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
    uses = [s for s in steps if s.get("uses", "").split("@")[0].endswith("/webhook-sim")]
    assert len(uses) == 2  # the first workflow, and the matrix one
    for step in uses:
        assert set(step["with"]) <= set(ACTION["inputs"])
        assert "url" in step["with"]
    assert uses[0]["with"]["basic"] == "${{ secrets.RECEIVER_BASIC }}"
    # The matrix example's own name tells the legs and the attempts apart.
    assert "${{ matrix." in uses[1]["with"]["artifact-name"]
    assert "${{ github.run_attempt }}" in uses[1]["with"]["artifact-name"]
    # The defaults the docs name are the action's.
    assert "webhook-sim-junit-JOB" in text
    assert "$RUNNER_TEMP/webhook-sim-venv" in text
    assert "update-environment: false" in text
