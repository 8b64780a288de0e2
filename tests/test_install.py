"""Install anywhere: the wheel, installed in a fresh venv (and by pipx), gives a working
`webhook-sim` with its scenarios and example configs, run from outside the repository.

The dependencies come from the package index pip is configured with (as `make test`'s own
install does); with pip's cache this takes about 20 s."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # builds a wheel, creates venvs, installs into them

REPO = Path(__file__).resolve().parent.parent
INSTALL_S = 600  # how long an install may take before the test gives up: never a measurement


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that points Python at the repository or its venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**env, **extra}


def sh(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env or clean_env(), capture_output=True, text=True,
        timeout=INSTALL_S,
    )  # fmt: skip
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of what the package is made of: an in-tree build would
    reuse the repository's build/ (a stale module there would end up in the wheel)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("dispatcher", "webhook_sim"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    # No build isolation: nothing fetched for the build, setuptools is the test venv's own
    # (the [test] extras name it: a Python 3.12+ venv comes without it).
    sh(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
       "-w", tmp / "dist", src, cwd=tmp)  # fmt: skip
    (built,) = (tmp / "dist").glob("webhook_sim-*.whl")
    return built


def check_installed(bin_dir: Path, python: Path, cwd: Path) -> None:
    """The tool in bin_dir is the installed one, with its bundled files, not the repository."""
    assert sh(bin_dir / "webhook-sim", "--version", cwd=cwd).startswith("webhook-sim ")
    where = sh(python, "-c", "import dispatcher; print(dispatcher.__file__)", cwd=cwd).strip()
    assert Path(where).is_relative_to(python.parent.parent), where
    assert not Path(where).is_relative_to(REPO), where
    listed = sh(bin_dir / "webhook-sim", "scenarios", cwd=cwd)
    names = [f"scenario:{p.stem}" for p in (REPO / "scenarios").glob("*.yaml")]
    names += [f"example:{p.stem}" for p in (REPO / "config").iterdir()]
    assert len(names) >= 11
    assert all(f"  {name} " in listed for name in names), listed
    assert str(REPO) not in listed  # the directories named are the installed ones


def test_wheel_in_a_fresh_venv_runs_an_installed_scenario(
    wheel: Path, tmp_path: Path, shared_receiver: Callable[..., str]
) -> None:
    venv, outside = tmp_path / "venv", tmp_path / "elsewhere"
    outside.mkdir()
    sh(sys.executable, "-m", "venv", "--without-pip", venv, cwd=outside)
    python = venv / "bin" / "python"
    # The repository's pip installs into the new venv: nothing of the repository's venv (its
    # editable install's finder) is in the new one.
    sh(sys.executable, "-m", "pip", "--python", python, "install", "-q", wheel, cwd=outside)
    check_installed(venv / "bin", python, outside)
    url = shared_receiver()
    junit = outside / "smoke.xml"
    out = sh(venv / "bin" / "webhook-sim", "run", "scenario:smoke", "--url", url + "/hook",
             "--junit", junit, cwd=outside)  # fmt: skip
    assert "scenario smoke:" in out
    assert "3 passed, 0 failed" in out
    assert junit.read_text().count("<testcase") == 3
    # A config example by name, and a wrong name refused in one line naming those there are.
    bad = subprocess.run(
        [venv / "bin" / "webhook-sim", "run", "scenario:nope", "--url", url],
        cwd=outside, env=clean_env(), capture_output=True, text=True, timeout=INSTALL_S,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1
    assert "scenario:nope: no scenario of that name" in bad.stderr
    assert "scenario:smoke" in bad.stderr
    out = sh(venv / "bin" / "webhook-sim", "send", "--config", "example:none", "--url",
             url + "/hook", cwd=outside)  # fmt: skip
    assert "delivered" in out


def test_pipx_installs_the_wheel(wheel: Path, tmp_path: Path) -> None:
    home, bin_dir, outside = tmp_path / "pipx", tmp_path / "bin", tmp_path / "elsewhere"
    outside.mkdir()
    env = clean_env(PIPX_HOME=str(home), PIPX_BIN_DIR=str(bin_dir),
                    PIPX_MAN_DIR=str(tmp_path / "man"))  # fmt: skip
    sh(sys.executable, "-m", "pipx", "install", wheel, cwd=outside, env=env)
    check_installed(bin_dir, home / "venvs" / "webhook-sim" / "bin" / "python", outside)
