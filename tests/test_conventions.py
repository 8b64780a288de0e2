"""The command line's conventions (issue #14): `--quiet`, `--output json`, shell completion, a
`--help` that loads nothing heavy, readable metavars, and `run`'s progress bar."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from rich.console import Console

from dispatcher.cli import app, main
from dispatcher.metrics import Metrics
from dispatcher.progress import Board, Ticker, _line
from dispatcher.signals import SIGNALS

from .conftest import closed_port

Receiver = Callable[..., str]
HEAVY = ("aiohttp", "dispatcher.engine", "hdrh", "yaml", "rich", "httptools", "uvloop")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def modules_after(*argv: str) -> set[str]:
    """The modules a fresh interpreter holds once the command line has answered `argv`."""
    script = (
        "import sys\nfrom dispatcher.cli import main\n"
        f"code = main({list(argv)!r})\nprint('\\n'.join(sorted(sys.modules)), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return set(done.stderr.split())


def loaded(modules: set[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


@pytest.mark.parametrize("argv", [["--help"], ["--version"], []])
def test_help_and_version_load_nothing_heavy(argv: list[str]) -> None:
    modules = modules_after(*argv)
    assert loaded(modules, "typer")  # the check sees what was imported
    for name in (*HEAVY, "pydantic", "dispatcher.settings", "dispatcher.jobs.run"):
        assert not loaded(modules, name), name


@pytest.mark.parametrize("command", ["send", "run", "check", "load", "merge", "plan", "report"])
def test_a_commands_help_loads_nothing_heavy(command: str) -> None:
    modules = modules_after(command, "--help")
    for name in (*HEAVY, "pydantic", "dispatcher.settings", "dispatcher.report"):
        assert not loaded(modules, name), name


@pytest.mark.parametrize("command", ["send", "run", "replay", "check", "load", "merge", "plan",
                                     "report", "platform", "receiver", "demo"])  # fmt: skip
def test_a_commands_help_is_typers_own(capsys: pytest.CaptureFixture[str], command: str) -> None:
    # `COMMAND --help` is answered before typer parses (its parse imports pydantic): the same.
    code, fast, _ = run(capsys, command, "--help")
    typer.main.get_command(app).main([command, "--help"], "webhook-sim", standalone_mode=False)
    assert (code, fast) == (0, capsys.readouterr().out)


def test_the_import_check_sees_what_a_command_loads() -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    modules = modules_after("send", "--url", url, "--max-attempts", "1", "-q")
    for name in ("pydantic", "dispatcher.engine", "dispatcher.settings"):
        assert loaded(modules, name), name


def every_command() -> list[str]:
    return sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", every_command())
def test_help_names_values_never_python_types(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    # typer's own labels for what it knows only as a Python type: <path>, <list[str]>, FLOAT;
    # and TEXT, the name of a value nobody named (choices, HOST, PORT, ID ... say what to type).
    assert not re.search(r"<\w+(\[\w+\])?>|\blist\[|\b(TEXT|INTEGER|FLOAT|BOOLEAN)\b", out), out


def test_ports_and_choices_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "receiver", "--help")[1]
    assert "--port PORT" in out
    assert "--host HOST" in out
    assert "--auth none|basic|api-key|oauth2" in out
    assert "--metrics-port PORT" in run(capsys, "run", "--help")[1]
    assert "--emit k8s|gha|ssh" in run(capsys, "plan", "--help")[1]


def test_arguments_are_shown_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert "  SCENARIO  A scenario file" in run(capsys, "run", "--help")[1]
    assert "  SHARDS  Shard results" in run(capsys, "merge", "--help")[1]


# --output json ---------------------------------------------------------------------------------


def test_send_output_json_is_one_document(
    shared_receiver: Receiver, capfd: pytest.CaptureFixture[str]
) -> None:
    url = shared_receiver("--auth", "basic", "--basic", "user:Pa55-Secret")
    code, out, err = run(
        capfd, "send", "--url", url, "--basic", "user:Pa55-Secret", "--seed", "1", "--output",
        "json",
    )  # fmt: skip
    doc = json.loads(out)
    assert code == doc["exit_code"] == 0
    assert (doc["outcome"], doc["delivered"], doc["auth"]) == ("delivered", True, "basic")
    assert [a["status"] for a in doc["attempts"]] == [200]
    assert doc["payload"]["processId"]
    assert "attempt  1  200" in err  # the person's view, on stderr
    assert "Pa55-Secret" not in out + err


def test_send_output_json_lists_every_failed_attempt(capfd: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    code, out, _ = run(
        capfd, "send", "--url", url, "--max-attempts", "2", "--interval", "0.01", "--output",
        "json",
    )  # fmt: skip
    doc = json.loads(out)
    assert code == doc["exit_code"] == 1
    assert [a["error"] for a in doc["attempts"]] == ["refused", "refused"]
    assert doc["outcome"] == "exhausted"


def test_run_output_json_is_the_report(
    shared_receiver: Receiver, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "r.json"
    code, out, err = run(
        capfd, "run", "--url", shared_receiver(), "--count", "20", "--workers", "1", "--seed",
        "2", "--output", "json", "--report-json", str(report),
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    assert doc == json.loads(report.read_text())
    assert doc["kind"] == "run"
    assert doc["notifications"]["delivered"] == 20
    assert "summary" in err


def test_check_output_json_is_the_report(
    shared_receiver: Receiver, capfd: pytest.CaptureFixture[str]
) -> None:
    url = shared_receiver("--auth", "basic", "--basic", "u:p")
    code, out, err = run(
        capfd, "check", "--url", url, "--basic", "u:p", "--only", "rejects-bad-credentials",
        "--output", "json",
    )  # fmt: skip
    doc = json.loads(out)
    assert code == 0
    assert doc["kind"] == "check"
    assert doc["passed"] is True
    assert "PASS rejects-bad-credentials" in err


def test_check_list_output_json_is_one_document(capfd: pytest.CaptureFixture[str]) -> None:
    from dispatcher.checks.suite import names

    code, out, err = run(capfd, "check", "--list", "--output", "json")
    doc = json.loads(out)
    assert code == 0
    assert [c["name"] for c in doc] == names()  # the suite's checks, then the opt-in ones
    assert all(set(c) == {"name", "description"} and c["description"] for c in doc)
    assert names()[0] in err  # the person's view, on stderr


def test_load_output_json_is_the_report(
    shared_receiver: Receiver, capfd: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capfd, "load", "--url", shared_receiver(), "--rate", "20", "--duration", "1s",
        "--workers", "1", "--output", "json",
    )  # fmt: skip
    doc = json.loads(out)
    assert code == 0
    assert doc["kind"] == "load"
    assert doc["notifications"]["delivered"] == doc["notifications"]["scheduled"] > 0


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--output", "yaml"], "--output = 'yaml': must be one of text, json"),
        (["--output", "json", "--log", "-"], "--log = '-': --output json writes there too: "
         "one would overwrite or mix with the other"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["send", "run", "check", "load"])
def test_bad_output_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], command: str, argv: list[str], expected: str
) -> None:
    code, out, err = run(capsys, command, "--url", "http://127.0.0.1:9/", *argv)
    assert (code, out, err) == (2, "", f"webhook-sim: error: {expected}\n")


# --quiet ---------------------------------------------------------------------------------------


def test_quiet_run_prints_nothing_and_still_writes_its_files(
    shared_receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "r.json"
    code, out, err = run(
        capsys, "run", "--url", shared_receiver(), "--count", "10", "--workers", "1", "-q",
        "--report-json", str(report),
    )  # fmt: skip
    assert (code, out, err) == (0, "", "")
    assert json.loads(report.read_text())["notifications"]["delivered"] == 10


@pytest.mark.parametrize(
    "argv",
    [
        ["send", "--max-attempts", "1"],
        ["run", "--count", "3", "--workers", "1", "--max-attempts", "1"],
        ["load", "--rate", "5", "--duration", "1s", "--workers", "1", "--max-attempts", "1"],
    ],
)
def test_quiet_keeps_the_exit_code_and_the_warnings(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    code, out, err = run(capsys, *argv, "--url", url, "--insecure", "--quiet")
    assert code == 1
    assert out == ""
    assert err.startswith("warning: --insecure")


def test_quiet_check_keeps_its_exit_code(
    shared_receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = shared_receiver("--auth", "basic", "--basic", "u:p", "--flaw", "any-credentials")
    junit = tmp_path / "j.xml"
    code, out, _ = run(
        capsys, "check", "--url", url, "--basic", "u:p", "--only", "rejects-bad-credentials",
        "-q", "--junit", str(junit),
    )  # fmt: skip
    assert (code, out) == (1, "")
    assert "<failure" in junit.read_text()


# Shell completion ------------------------------------------------------------------------------


def cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The console script's entry point (`dispatcher.__main__`), as a shell runs it."""
    return subprocess.run(
        [sys.executable, "-m", "dispatcher", *argv], capture_output=True, text=True,
        timeout=60, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_show_completion_prints_the_bash_script(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--show-completion", "bash")
    assert code == 0
    assert "_WEBHOOK_SIM_COMPLETE=complete_bash" in out
    assert "complete -o default -F" in out


@pytest.mark.parametrize(
    ("words", "expected"),
    [("webhook-sim lo", "load"), ("webhook-sim load --rat", "--rate"), ("webhook-sim r", "run")],
)
def test_bash_completes_commands_and_options(words: str, expected: str) -> None:
    env = {"_WEBHOOK_SIM_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - 1)}  # fmt: skip
    done = cli(env=env)
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout.split()


def test_install_completion_writes_the_script(tmp_path: Path) -> None:
    done = cli("--install-completion", "bash", env={"HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    script = tmp_path / ".bash_completions" / "webhook-sim.sh"
    assert "_WEBHOOK_SIM_COMPLETE=complete_bash" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()


def test_install_completion_for_an_unknown_shell_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "--install-completion", "tcsh")
    assert code == 2
    assert err.count("\n") == 1
    assert "'tcsh' is not one of" in err


# run's progress bar ----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def metrics(scheduled: int, delivered: int, exhausted: int = 0) -> Metrics:
    return Metrics(cap=10, scheduled=scheduled, delivered=delivered, exhausted=exhausted)


def rendered(board: Board, figures: dict[str, str]) -> str:
    out = io.StringIO()
    Console(file=out, force_terminal=True, width=200, color_system=None).print(board.view(figures))
    return out.getvalue()


def test_the_bar_shows_done_of_total_rate_eta_and_outcome() -> None:
    clock = Clock()
    board = Board(100, clock=clock)
    clock.now = 1.0  # sending begins: the pace is taken from here
    board.look(metrics(10, 0))
    clock.now = 6.0
    figures, _ = board.look(metrics(60, 48, exhausted=2))
    text = rendered(board, figures)
    assert "notifications" in text
    assert "50/100" in text
    assert "10/s  ETA 5s  delivered 48, exhausted 2, cancelled 0" in text
    assert "eta=5s" in _line(figures, 6.0)  # in logs, the same ETA on the line
    clock.now = 12.0  # more were sent than the estimate said: the bar says so at the end
    text = rendered(board, board.look(metrics(110, 108, exhausted=2), final=True)[0])
    assert "110/110" in text
    assert "ETA done  delivered 108, exhausted 2" in text


def test_an_interrupted_run_says_stopped_not_done(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SIGNALS, "received", [signal.SIGINT])  # Ctrl-C: the run is stopping
    clock = Clock()
    board = Board(100, clock=clock)
    clock.now = 1.0
    board.look(metrics(10, 0))
    clock.now = 6.0
    figures, _ = board.look(metrics(60, 48, exhausted=2))
    assert "ETA stopped" in rendered(board, figures)
    assert "eta=stopped" in _line(figures, 6.0)
    text = rendered(board, board.look(metrics(60, 50, exhausted=2), final=True)[0])
    assert "52/100" in text  # not filled: what was left was not sent
    assert "ETA stopped  delivered 50, exhausted 2" in text
    assert "done" not in text


def test_without_a_total_there_is_no_bar() -> None:
    board = Board(None, clock=Clock())
    figures, _ = board.look(metrics(5, 5))
    assert "notifications" not in rendered(board, figures)
    assert "eta" not in _line(figures, 1.0)


def test_the_workers_ticker_ends_on_the_final_figures() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system=None)
    with Ticker(console, every_s=1e-9, total=100) as ticker:
        ticker(metrics(40, 30))
        ticker.finish(metrics(100, 100))
    text = out.getvalue()
    assert "30/100" in text
    assert "100/100" in text
    assert "ETA done" in text


def test_the_workers_ticker_is_silent_when_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    with Ticker(None, every_s=1e-9, total=100) as ticker:
        ticker(metrics(40, 30))
        ticker.finish(metrics(100, 100))
    assert capsys.readouterr() == ("", "")


def test_run_on_a_terminal_ends_with_a_full_bar(shared_receiver: Receiver) -> None:
    """End to end in a pseudo-terminal: the bar's last state is the run's end, whatever the
    timing (a run on one engine shows its panel from the start, and a last look at the end)."""
    import pty

    leader, follower = pty.openpty()
    argv = ["run", "--url", shared_receiver(), "--count", "30", "--workers", "1", "--seed", "5"]
    env = {**os.environ, "COLUMNS": "200", "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "dispatcher", *argv], stdin=subprocess.DEVNULL,
                            stdout=follower, stderr=follower, env=env)  # fmt: skip
    os.close(follower)
    seen = b""
    try:
        while chunk := os.read(leader, 65536):
            seen += chunk
    except OSError:  # EIO: the terminal's other end closed, the run is over
        pass
    finally:
        os.close(leader)
    assert proc.wait(timeout=60) == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode("utf-8", "replace"))
    assert "30/30" in text
    assert "ETA done  delivered 30, exhausted 0, cancelled 0" in text
