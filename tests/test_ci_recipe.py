"""docs/ci.md's recipe, run as written: start a receiver, run check, parse the JUnit file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from junitparser import Failure, JUnitXml

from .conftest import closed_port

pytestmark = pytest.mark.e2e  # a receiver and a whole check suite, started by bash


def recipe_steps() -> dict[str, str]:
    text = Path("docs/ci.md").read_text()
    # The step-by-step workflow: the one with a job named webhook-sim.
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    workflow = next(b for b in blocks if "webhook-sim" in b.get("jobs", {}))
    steps = workflow["jobs"]["webhook-sim"]["steps"]
    return {step["name"]: step["run"] for step in steps if "name" in step and "run" in step}


def test_recipe_runs_as_written(tmp_path: Path) -> None:
    steps = recipe_steps()
    port = str(closed_port())  # free now; the recipe's receiver takes it
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "RECEIVER_BASIC": "ci:Recipe-S3cret",
        "WEBHOOK_SIM_BASIC": "ci:Recipe-S3cret",
    }
    start = steps["Start the receiver under test"].replace("8000", port)
    check = steps["Conformance check"].replace("8000", port)
    # The start step backgrounds the receiver and waits until it answers; it is run in a
    # process group of its own, kept alive (wait) until the test ends it.
    starter = subprocess.Popen(
        ["bash", "-e", "-c", start + "\necho started\nwait"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert starter.stdout is not None
    try:
        assert starter.stdout.readline().strip() == "started"
        result = subprocess.run(
            ["bash", "-e", "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
    finally:
        os.killpg(starter.pid, 15)
        starter.wait(timeout=10)
    assert result.returncode == 0, result.stdout + result.stderr
    xml = JUnitXml.fromfile(str(tmp_path / "reports/webhook-sim.xml"))
    cases = [case for suite in xml for case in suite]
    assert len(cases) == 9
    assert not any(isinstance(r, Failure) for case in cases for r in case.result)
    assert "Recipe-S3cret" not in result.stdout + result.stderr
