"""`webhook-sim plan`: what each engine is handed (parsed back as the engine reads it), the same
run id and start instant for every shard, no secret in any plan, one-line refusals, and the
emitted commands run as the engines would run them."""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from dispatcher.cli import main
from dispatcher.jobs.emitters import render
from dispatcher.jobs.plan import MARKER, RESULTS_MOUNT, SECRET_NAME, Plan

NOW = datetime(2026, 11, 26, 15, 58, 0, tzinfo=UTC)
START = "2026-11-26T16:00:00Z"  # NOW + the default 120 s
LOAD = ("load", "--url", "http://127.0.0.1:9/hook", "--rate", "100", "--duration", "10s")
# Credentials on the command line, each of a form plan must not copy.
PASSWORD, API_KEY, CLIENT_SECRET = "pa55-Word-xyz", "k3y-Value-xyz", "cl1ent-Secret-xyz"
SECRET_FLAGS = (
    "--basic", f"user:{PASSWORD}", f"--api-key=X-Api-Key:{API_KEY}",
    "--client-secret", CLIENT_SECRET,
)  # fmt: skip
Receiver = Callable[..., str]


def plan(*command: str, emit: str, shards: int = 3, now: datetime = NOW, **flags: Any) -> str:
    """The plan for these flags, planned at `now`, in `env` (default: no credential)."""
    env = flags.pop("env", {})
    given = {"emit": emit, "shards": shards, "command": list(command), **flags}
    return render(Plan.from_flags(given, now=now, env=env))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def script(manifest: dict[str, Any]) -> str:
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:2] == ["sh", "-c"]
    text: str = container["command"][2]
    return text


def kubelet(text: str, env: Mapping[str, str]) -> str:
    """What the kubelet makes of a container's command: `$(NAME)` replaced by a variable of
    the container (left as is when there is none), `$$` by `$`."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, text)


def words(shell_command: str) -> list[str]:
    """The words a POSIX shell makes of one command (continued over lines by backslashes)."""
    return shlex.split(shell_command.replace("\\\n", " "))


def github(text: str, shard: int = 2) -> str:
    """What GitHub Actions makes of a step's text before a shell sees it."""
    values = {
        "matrix.shard": str(shard), "github.run_id": "777", "github.run_attempt": "1",
        "needs.schedule.outputs.start_at": START,
    }  # fmt: skip
    return re.sub(r"\$\{\{ ([a-z_.]+) \}\}", lambda m: values[m.group(1)], text)


def ssh_lines(text: str) -> list[list[str]]:
    """Each `ssh ... HOST 'REMOTE' > FILE &` line as [host, remote words..., file]."""
    found = []
    for line in text.splitlines():
        if line.startswith("ssh "):
            parts = shlex.split(line)
            assert parts[:4] == ["ssh", "-n", "-o", "BatchMode=yes"]
            assert parts[-1] == "&"
            assert parts[-3] == ">"
            found.append([parts[4], *shlex.split(parts[5]), parts[-2]])
    return found


def shard_args(argv: list[str]) -> dict[str, str]:
    return {flag: argv[argv.index(flag) + 1] for flag in ("--shard", "--run-id", "--start-at")}


# --- Kubernetes ---------------------------------------------------------------------------------


def test_k8s_is_an_indexed_job_of_n_pods_that_never_retry() -> None:
    text = plan(*LOAD, emit="k8s", shards=4, run_id="r1")
    job = yaml.safe_load(text)
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 4
    assert spec["backoffLimit"] == 0
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["image"] == "webhook-sim:latest"
    # The header says how to collect and merge.
    assert "kubectl logs" in text
    assert "webhook-sim merge webhook-sim-r1/shard-*.json --expect-shards 4" in text


@pytest.mark.parametrize("index", [0, 3])
def test_k8s_shard_takes_its_index_from_the_job_controller(index: int) -> None:
    job = yaml.safe_load(plan(*LOAD, emit="k8s", shards=4, run_id="r1", image="reg/ws:1"))
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "reg/ws:1"
    text = kubelet(script(job), {"JOB_COMPLETION_INDEX": str(index)})
    first = text.split("\necho ")[0]
    argv = words(first.replace("$JOB_COMPLETION_INDEX", str(index)))
    assert argv[:8] == ["webhook-sim", *LOAD]
    assert shard_args(argv) == {"--shard": f"{index}/4", "--run-id": "r1", "--start-at": START}
    assert argv[-2:] == ["--shard-out", f"{RESULTS_MOUNT}/shard.json"]
    assert f"echo '{MARKER}'" in text


def test_k8s_escapes_what_the_kubelet_would_expand() -> None:
    header = "X-Note: it's $(HOME) and $$ and $PATH"
    job = yaml.safe_load(plan(*LOAD, "-H", header, emit="k8s", run_id="r1"))
    text = kubelet(script(job), {"HOME": "/root", "PATH": "/bin"})
    assert header in words(text.split("\necho ")[0])


def test_k8s_wires_credentials_from_a_secret_and_copies_none() -> None:
    text = plan(*LOAD, *SECRET_FLAGS, emit="k8s", run_id="r1")
    container = yaml.safe_load(text)["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [
        {"name": var, "valueFrom": {"secretKeyRef": {"name": SECRET_NAME, "key": var}}}
        for var in ("WEBHOOK_SIM_BASIC", "WEBHOOK_SIM_API_KEY", "WEBHOOK_SIM_CLIENT_SECRET")
    ]
    assert f"kubectl create secret generic {SECRET_NAME}" in text
    assert_no_secret(text)


def test_credentials_in_this_environment_are_wired_too() -> None:
    text = plan(*LOAD, emit="k8s", env={"WEBHOOK_SIM_CLIENT_SECRET": CLIENT_SECRET})
    container = yaml.safe_load(text)["spec"]["template"]["spec"]["containers"][0]
    assert [e["name"] for e in container["env"]] == ["WEBHOOK_SIM_CLIENT_SECRET"]
    assert_no_secret(text)


def assert_no_secret(text: str) -> None:
    for value in (PASSWORD, API_KEY, CLIENT_SECRET, "user:"):
        assert value not in text
    assert "***" not in text
    assert "--basic" not in text
    assert "--api-key" not in text
    assert "--client-secret" not in text


# --- GitHub Actions -----------------------------------------------------------------------------


def test_gha_is_a_matrix_of_n_shards_then_a_merge() -> None:
    workflow = yaml.safe_load(plan(*LOAD, emit="gha", shards=5))
    on = workflow.get("on", workflow.get(True))  # `on` is a boolean to a YAML 1.1 reader
    assert on == {"workflow_dispatch": {}}
    jobs = workflow["jobs"]
    assert list(jobs) == ["schedule", "shard", "merge"]
    shard = jobs["shard"]
    assert shard["needs"] == "schedule"
    assert shard["strategy"] == {"fail-fast": False, "matrix": {"shard": [0, 1, 2, 3, 4]}}
    run_step = next(s["run"] for s in shard["steps"] if "webhook-sim load" in s.get("run", ""))
    argv = words(github(run_step, shard=4))
    assert argv[:8] == ["webhook-sim", *LOAD]
    assert shard_args(argv) == {"--shard": "4/5", "--run-id": "777-1", "--start-at": START}
    assert argv[-2:] == ["--shard-out", "shard-4.json"]
    upload = shard["steps"][-1]
    assert upload["uses"] == "actions/upload-artifact@v4"
    assert upload["with"]["name"] == "shard-${{ matrix.shard }}"
    start = jobs["schedule"]["steps"][0]["run"]
    assert "date -u -d '+120 seconds' +%Y-%m-%dT%H:%M:%SZ" in start


def test_gha_merge_runs_always_on_every_shard_artifact() -> None:
    merge = yaml.safe_load(plan(*LOAD, "--expect", "response_p99_ms<300", emit="gha"))["jobs"]
    merge = merge["merge"]
    assert merge["needs"] == "shard"
    assert merge["if"] == "always()"
    download = next(s for s in merge["steps"] if s.get("uses", "").startswith("actions/down"))
    assert download["uses"] == "actions/download-artifact@v4"
    assert download["with"]["pattern"] == "shard-*"
    assert download["with"]["merge-multiple"] is True
    run_step = next(s["run"] for s in merge["steps"] if "webhook-sim merge" in s.get("run", ""))
    assert words(run_step) == [
        "webhook-sim", "merge", "shards/shard-*.json", "--expect-shards", "3",
        "--expect", "response_p99_ms<300", "--report-json", "report.json",
        "--report-html", "report.html",
    ]  # fmt: skip
    assert merge["steps"][-1]["with"]["path"].split() == ["report.json", "report.html"]


def test_gha_with_a_fixed_instant_and_run_id_needs_no_schedule_job() -> None:
    workflow = yaml.safe_load(plan(*LOAD, emit="gha", start_at=START, run_id="nightly-1"))
    assert "schedule" not in workflow["jobs"]
    steps = workflow["jobs"]["shard"]["steps"]
    argv = words(github(next(s["run"] for s in steps if "webhook-sim load" in s.get("run", ""))))
    assert shard_args(argv)["--start-at"] == START
    assert shard_args(argv)["--run-id"] == "nightly-1"


def test_gha_wires_credentials_from_repository_secrets() -> None:
    text = plan(*LOAD, *SECRET_FLAGS, emit="gha")
    env = yaml.safe_load(text)["jobs"]["shard"]["env"]
    assert env == {
        var: f"${{{{ secrets.{var} }}}}"
        for var in ("WEBHOOK_SIM_BASIC", "WEBHOOK_SIM_API_KEY", "WEBHOOK_SIM_CLIENT_SECRET")
    }
    assert_no_secret(text)


# --- ssh ----------------------------------------------------------------------------------------


def test_ssh_runs_every_shard_with_the_same_run_id_and_instant() -> None:
    text = plan(*LOAD, emit="ssh", shards=3, host=["a.example", "ops@b.example"], run_id="r9")
    lines = ssh_lines(text)
    assert [line[0] for line in lines] == ["a.example", "ops@b.example", "a.example"]
    for k, line in enumerate(lines):
        argv = line[1:-1]
        assert argv[:8] == ["webhook-sim", *LOAD]
        assert shard_args(argv) == {"--shard": f"{k}/3", "--run-id": "r9", "--start-at": START}
        assert argv[-2:] == ["--shard-out", "-"]
        assert line[-1] == f"webhook-sim-r9/shard-{k}.json"
    tail = text.splitlines()[-2:]
    assert tail == ["wait", "webhook-sim merge webhook-sim-r9/shard-*.json --expect-shards 3"]


def test_ssh_quotes_for_the_local_and_the_remote_shell() -> None:
    odd = 'X-Note: it\'s "quoted" $(whoami) `id` & more'
    lines = ssh_lines(plan(*LOAD, "-H", odd, emit="ssh", results_dir="out dir"))
    assert odd in lines[0]
    assert lines[0][-1] == "out dir/shard-0.json"


def test_ssh_without_hosts_names_placeholders_and_keeps_secrets_out() -> None:
    text = plan(*LOAD, *SECRET_FLAGS, emit="ssh", shards=2)
    assert [line[0] for line in ssh_lines(text)] == ["host-0", "host-1"]
    assert "placeholders" in text
    comments = " ".join(line[2:] for line in text.splitlines() if line.startswith("# "))
    assert "export WEBHOOK_SIM_BASIC, WEBHOOK_SIM_API_KEY, WEBHOOK_SIM_CLIENT_SECRET" in comments
    assert_no_secret(text)


# --- what the plan does to the command ----------------------------------------------------------


def test_thresholds_and_reports_go_to_the_merge() -> None:
    text = plan(*LOAD, "--expect=response_p99_ms<300", "--report-json", "r.json", emit="ssh")
    for line in ssh_lines(text):
        assert "--expect" not in line
        assert "--report-json" not in line
    assert text.splitlines()[-1].endswith(
        "--expect-shards 3 --expect 'response_p99_ms<300' --report-json r.json"
    )


@pytest.mark.parametrize(
    "talk", [("--output", "json", "-q"), ("--output=json", "--quiet")], ids=["spaced", "joined"]
)
@pytest.mark.parametrize("emit", ["ssh", "gha", "k8s"])
def test_what_the_command_says_is_the_merges(emit: str, talk: tuple[str, ...]) -> None:
    # A shard's stdout is its document (--shard-out -): --output json there would be refused.
    text = plan(*LOAD, *talk, "--report-json", "r.json", emit=emit, run_id="r1")
    flat = re.sub(r"\s*\\\n\s*", " ", text)  # every command on one line
    merge = re.findall(r"webhook-sim merge \S*shard-\*\.json.*", flat)
    shards = [line for line in flat.splitlines() if "--shard-out" in line]
    assert merge
    assert len(shards) == (3 if emit == "ssh" else 1)
    for line in merge:
        said = line.split()
        assert said[said.index("--output") + 1] == "json"
        assert talk[-1] in said
    for line in shards:
        assert "--output" not in line
        assert not {"-q", "--quiet"} & set(line.split())


def test_merge_takes_output_json_and_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "merge", "--help")
    assert code == 0
    assert "--output text|json" in out
    assert "-q, --quiet" in out


@pytest.mark.parametrize("when", [{"start_in": "30s"}, {"start_at": "+30s"}])
def test_start_in_is_rounded_up_to_a_whole_second(when: dict[str, str]) -> None:
    later = NOW.replace(microsecond=250_000)
    given = {"emit": "ssh", "shards": 1, "command": list(LOAD), **when}
    start = Plan.from_flags(given, now=later, env={}).start
    assert (start.at, start.after_s) == ("2026-11-26T15:58:31Z", 30)


@pytest.mark.parametrize("given", ["2026-11-26T17:00:00+01:00", "1795708800"])
def test_an_absolute_start_is_passed_through(given: str) -> None:
    lines = ssh_lines(plan(*LOAD, emit="ssh", start_at=given))
    assert {shard_args(line[1:-1])["--start-at"] for line in lines} == {given}


def test_a_fresh_run_id_is_shared_by_every_shard() -> None:
    ids = {shard_args(line[1:-1])["--run-id"] for line in ssh_lines(plan(*LOAD, emit="ssh"))}
    assert len(ids) == 1
    assert re.fullmatch(r"[0-9a-f]{12}", ids.pop())


def test_the_command_line_takes_the_command_after_double_dash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys, "plan", "--shards", "2", "--emit", "ssh", "--", "load", "--url", "http://x",
        "--rate", "10",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert len(ssh_lines(out)) == 2


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--emit", "nomad", "--", *LOAD], "--emit = 'nomad': must be one of k8s, gha, ssh"),
        (["--shards", "0", "--", *LOAD], "--shards = 0: must be between 1 and 1000"),
        (["--shards", "1001", "--", *LOAD], "--shards = 1001: must be between 1 and 1000"),
        (["--emit", "gha", "--shards", "257", "--", *LOAD], "between 1 and 256"),
        ([], "give the command to split after --"),
        (["--", "send", "--url", "http://x"], "'send': plan splits run or load"),
        (["--", *LOAD, "--shard", "0/2"], "--shard: plan sets it for every shard"),
        (["--", *LOAD, "--run-id=x"], "--run-id: plan sets it"),
        (["--", *LOAD, "--start-at", "+5s"], "--start-at: plan sets it"),
        (["--", *LOAD, "--shard-out", "-"], "--shard-out: plan sets it"),
        (["--", "run", "--junit", "j.xml"], "--junit: not for a split run"),
        (["--", *LOAD, "--secret-header", f"X-Sig:{PASSWORD}"], "--secret-header is a credential"),
        (["--", *LOAD, "-H", f"Authorization: Bearer {PASSWORD}"], "-H 'Authorization' is a cred"),
        (["--", "load", "--url", f"https://user:{PASSWORD}@h/x"], "--url: credentials in a URL"),
        (["--", "load", f"--url=https://u:{PASSWORD}@h/"], "--url: credentials in a URL"),
        (["--", "load", "--token-url", f"https://u:{PASSWORD}@h/"], "--token-url: credentials"),
        (["--start-in", "1s", "--start-at", START, "--", *LOAD], "do not go together"),
        (
            ["--start-at", "tomorrow", "--", *LOAD],
            "--start-at = 'tomorrow': not an instant (RFC 3339",
        ),
        (["--start-at", "2020-01-01T00:00:00Z", "--", *LOAD], "in the past"),
        (["--start-in", "0s", "--", *LOAD], "--start-in = '0s': must be more than 0"),
        (["--start-in", "soon", "--", *LOAD], "--start-in = 'soon': not a duration"),
        (["--run-id", "a b", "--", *LOAD], "--run-id = 'a b': 1 to 63 letters"),
        (["--host", "h1", "--emit", "k8s", "--", *LOAD], "--host is for --emit ssh, not k8s"),
        (["--image", "i", "--", *LOAD], "--image is for --emit k8s, not ssh"),
        (["--host", "-oProxyCommand=x", "--", *LOAD], "not a host name"),
        (["--shards", "1", "--host", "a", "--host", "b", "--", *LOAD], "--host given 2 times"),
        (["--emit", "gha", "--", *LOAD, "-H", "X-A: ${{ github.token }}"], "'${{'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    given = argv if "--emit" in argv else ["--emit", "ssh", *argv]
    given = given if "--shards" in given else ["--shards", "2", *given]
    code, out, err = run(capsys, "plan", *given)
    assert code == 2
    assert out == ""
    assert err.startswith("webhook-sim: error: ")
    assert err.count("\n") == 1
    assert expected in err
    assert PASSWORD not in err
    assert "***" not in err


def test_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", "--help")
    assert code == 0
    for flag in ("--shards", "--emit", "--start-in", "--start-at", "--run-id", "--host"):
        assert flag in out


# --- the emitted commands, run as the engines run them ------------------------------------------


def shim(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(body)
    path.chmod(0o755)


def echo_path(tmp_path: Path) -> dict[str, str]:
    """An environment whose `webhook-sim` writes its arguments as JSON where --shard-out says,
    and whose `ssh` runs the remote command here."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim(bin_dir, "webhook-sim", (
        f"#!{sys.executable}\nimport json, os, sys\nargs = sys.argv[1:]\n"
        "out = args[args.index('--shard-out') + 1]\n"
        "if 'SHIM_NO_RESULT' not in os.environ:\n"
        "    (sys.stdout if out == '-' else open(out, 'w')).write(json.dumps(args))\n"
        "sys.exit(int(os.environ.get('SHIM_EXIT', '0')))\n"
    ))  # fmt: skip
    shim(bin_dir, "ssh", (
        '#!/bin/sh\nwhile :; do case "$1" in -n) shift;; -o) shift 2;; *) break;; esac; done\n'
        'shift\nexec sh -c "$1"\n'
    ))  # fmt: skip
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.e2e  # starts sh and a Python shim: quoting as a real shell reads it
def test_a_real_shell_receives_every_word_unchanged(tmp_path: Path) -> None:
    odd = ["-H", 'X-Note: it\'s "q" $(whoami) `id` $HOME $$ \\ & ;']
    env = echo_path(tmp_path)
    ssh_text = plan(*LOAD, *odd, emit="ssh", shards=2, run_id="r1", results_dir=".")
    for k, line in enumerate(ssh_text.splitlines()[-4:-2]):
        subprocess.run(["sh", "-c", line.removesuffix(" &")], env=env, cwd=tmp_path, check=True)
        argv = json.loads((tmp_path / f"shard-{k}.json").read_text())
        assert argv[: len(LOAD) + 2] == [*LOAD, *odd]
        assert shard_args(argv)["--shard"] == f"{k}/2"
    job = yaml.safe_load(plan(*LOAD, *odd, emit="k8s", shards=2, run_id="r1"))
    text = kubelet(script(job), {"HOME": "/root"}).replace(RESULTS_MOUNT, str(tmp_path))
    out = subprocess.run(
        ["sh", "-c", text], env={**env, "JOB_COMPLETION_INDEX": "1"}, check=True,
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    argv = json.loads(out.split(MARKER + "\n", 1)[1])
    assert argv[: len(LOAD) + 2] == [*LOAD, *odd]
    assert shard_args(argv)["--shard"] == "1/2"


@pytest.mark.e2e  # starts sh and a Python shim
@pytest.mark.parametrize(
    ("shard_env", "pod_fails"),
    [({"SHIM_EXIT": "1"}, False), ({"SHIM_EXIT": "1", "SHIM_NO_RESULT": "1"}, True)],
)
def test_a_pod_fails_only_when_its_shard_left_no_result(
    tmp_path: Path, shard_env: dict[str, str], pod_fails: bool
) -> None:
    job = yaml.safe_load(plan(*LOAD, emit="k8s", shards=2))
    text = kubelet(script(job), {}).replace(RESULTS_MOUNT, str(tmp_path))
    env = {**echo_path(tmp_path), "JOB_COMPLETION_INDEX": "0", **shard_env}
    done = subprocess.run(["sh", "-c", text], env=env, capture_output=True, text=True)
    assert (done.returncode != 0) == pod_fails
    assert MARKER in done.stdout


@functools.cache
def _shards_available() -> bool:
    """Whether the shard contract is there yet: `load --shard-out`, and `merge`."""

    def help_text(command: str) -> str:
        argv = [sys.executable, "-m", "dispatcher", command, "--help"]
        done = subprocess.run(argv, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""

    return "--shard-out" in help_text("load") and "--expect-shards" in help_text("merge")


shards_needed = pytest.mark.skipif(
    not _shards_available(), reason="the shard contract is not there yet (load --shard-out, merge)"
)
SMALL_LOAD = ("--rate", "50", "--duration", "1s", "--workers", "1", "--start-tolerance", "30s")


def real_path(tmp_path: Path) -> dict[str, str]:
    """An environment whose `webhook-sim` is this checkout's, and whose `ssh` runs here."""
    env = echo_path(tmp_path)
    shim(tmp_path / "bin", "webhook-sim", f'#!/bin/sh\nexec {sys.executable} -m dispatcher "$@"\n')
    return env


def shard_results(files: list[Path]) -> int:
    """The notifications the shards scheduled in all, once each is checked to be of the run."""
    docs = [json.loads(f.read_text()) for f in files]
    assert len({(d["run_id"], d["start_at"]) for d in docs}) == 1
    assert sorted(d["shard"]["index"] for d in docs) == list(range(len(files)))
    return sum(int(d["metrics"]["counters"]["scheduled"]) for d in docs)


def scheduled(report: dict[str, Any]) -> int:
    return int(report["notifications"]["scheduled"])


def merged(directory: Path, files: list[Path], env: dict[str, str]) -> dict[str, Any]:
    report = directory / "merged.json"
    merge = [sys.executable, "-m", "dispatcher", "merge", *map(str, files), "--expect-shards"]
    done = subprocess.run(
        [*merge, str(len(files)), "--report-json", str(report)], env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(report.read_text())
    return result


@shards_needed
@pytest.mark.e2e
def test_the_ssh_script_runs_and_merges(shared_receiver: Receiver, tmp_path: Path) -> None:
    url = shared_receiver()
    text = plan(
        "load", "--url", url, *SMALL_LOAD, "--report-json", "merged.json", emit="ssh",
        shards=2, start_in="5s", now=datetime.now(UTC),
    )  # fmt: skip
    (tmp_path / "plan.sh").write_text(text)
    done = subprocess.run(
        ["sh", "plan.sh"], cwd=tmp_path, env=real_path(tmp_path), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    shards = sorted(tmp_path.glob("webhook-sim-*/shard-*.json"))
    assert len(shards) == 2
    total = shard_results(shards)
    assert total > 0
    assert scheduled(json.loads((tmp_path / "merged.json").read_text())) == total


@shards_needed
@pytest.mark.e2e
def test_the_k8s_pods_run_and_merge(shared_receiver: Receiver, tmp_path: Path) -> None:
    url, now = shared_receiver(), datetime.now(UTC)
    job = yaml.safe_load(
        plan("load", "--url", url, *SMALL_LOAD, emit="k8s", shards=2, start_in="5s", now=now)
    )
    env = real_path(tmp_path)

    def pod(index: int) -> Path:
        # Each pod has its own scratch volume; its log is its stdout and stderr together.
        volume = tmp_path / f"pod-{index}"
        volume.mkdir()
        pod_env = {**env, "JOB_COMPLETION_INDEX": str(index)}
        text = kubelet(script(job), pod_env).replace(RESULTS_MOUNT, str(volume))
        log = subprocess.run(
            ["sh", "-c", text], env=pod_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        ).stdout  # fmt: skip
        assert MARKER in log, log
        shard = tmp_path / f"shard-{index}.json"
        shard.write_text(log.split(MARKER + "\n", 1)[1])
        return shard

    with ThreadPoolExecutor(2) as pool:
        files = list(pool.map(pod, range(2)))
    total = shard_results(files)
    assert total > 0
    assert scheduled(merged(tmp_path, files, env)) == total
