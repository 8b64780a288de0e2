"""The Ray launcher (`--ray --shards N`) on a real two-node Ray cluster on this machine.

One cluster (`ray.cluster_utils.Cluster`: a head and one more node, one CPU each) serves the
module. Shards are a fake program that speaks the shard contract (reads `--shard K/N`, K from 0,
`--run-id`, `--start-at`; prints one JSON document) and can be told to fail; one test runs the
real `load` shards. Nothing measures time: every timeout is generous, for a busy 2-CPU machine.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dispatcher.cli import main
from dispatcher.errors import ConfigError
from dispatcher.jobs import params
from dispatcher.launch import shard_argv, shard_result
from dispatcher.launch.command import shard_command
from dispatcher.launch.ray import RayOutcome, launch
from dispatcher.redact import REDACTOR

# One cluster per xdist worker that runs a test of this module: `--dist loadgroup` would keep
# them all on one (worksteal, as `make test` runs, does not know groups).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("ray")]

HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="ray is not installed: pip install '.[ray]'")
NODE_MEMORY = 80 * 1024 * 1024  # object store per node (Ray's least is 75 MiB): shards send JSON

FAKE_SHARD = r"""
import json, os, signal, sys, time
from pathlib import Path
argv = sys.argv[1:]
if argv == ["--version"]:
    print("webhook-sim 0.0.0 (fake shard)")
    sys.exit(0)
opt = lambda name: argv[argv.index(name) + 1] if name in argv else None
k, n = (int(x) for x in opt("--shard").split("/"))
how = opt("--how") if opt("--fail") in (str(k), "all") else None
stopped = []
signal.signal(signal.SIGINT, signal.SIG_IGN if how == "stubborn" else lambda *_: stopped.append(1))
if opt("--pid-dir"):  # once it is ready for a signal
    Path(opt("--pid-dir"), f"{k}.pid").write_text(str(os.getpid()))
print(f"shard {k}/{n} of {argv[0]} waits for {opt('--start-at')}", file=sys.stderr, flush=True)
if how == "sigkill":
    os.kill(os.getpid(), signal.SIGKILL)
if how == "kill-actor":  # the actor dies under the shard: the shard must die with it
    os.kill(os.getppid(), signal.SIGKILL)
    time.sleep(120)
if how == "late":
    print(f"webhook-sim: {' '.join(argv)}", file=sys.stderr)  # only the last line is kept
    print(f"webhook-sim: error: late by 2.3 s (ready at +3.3 s; {' '.join(argv)})", file=sys.stderr)
    sys.exit(1)
if how == "garbage":
    print("no JSON here")
    sys.exit(0)
if how in ("slow", "stubborn"):  # until SIGINT (slow) or killed (stubborn)
    deadline = time.monotonic() + 120
    while not stopped and time.monotonic() < deadline:
        time.sleep(0.05)
doc = {"kind": "shard", "run_id": opt("--run-id"), "start_at": opt("--start-at"),
       "shard": {"index": k, "count": n}, "command": argv[0], "interrupted": bool(stopped),
       "nice": os.nice(0)}
print(json.dumps(doc))
"""
# A driver of its own: for the signal tests, and for a local Ray (after a local Ray, Ray 2.60
# cannot start actors on another cluster from the same process: they die "never ran").
DRIVER = """
import dataclasses, json, sys
from dispatcher.launch.ray import launch
from dispatcher.signals import SIGNALS
address, mode, fake, *args = sys.argv[1:]
def go():
    outcome = launch("load", args, shards=2, address=address or None, run_id="d",
                     start_margin_s=0.5, program=(sys.executable, fake),
                     log=lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps(dataclasses.asdict(outcome)), flush=True)
if mode == "cli":  # as `webhook-sim` runs: a signal is recorded, never raised
    with SIGNALS.installed():
        go()
else:
    go()
"""
STARTUP_S = 120.0  # for anything to come up on a busy machine: never a measurement


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A two-node Ray cluster for the module; its address."""
    if not HAS_RAY:
        pytest.skip("ray is not installed: pip install '.[ray]'")
    from ray.cluster_utils import Cluster

    node: dict[str, Any] = {"num_cpus": 1, "object_store_memory": NODE_MEMORY}
    with pytest.MonkeyPatch.context() as env:
        # Loopback only: no token, so that no cluster depends on ~/.ray/auth_token, which a
        # local Ray started anywhere on this machine (as one test does) may write meanwhile.
        env.setenv("RAY_AUTH_MODE", "disabled")
        c: Any = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
        try:
            c.add_node(**node)
            c.wait_for_nodes(timeout=STARTUP_S)
            yield str(c.address)
        finally:
            c.shutdown()


@pytest.fixture
def fake(tmp_path: Path) -> tuple[str, ...]:
    script = tmp_path / "fake_shard.py"
    script.write_text(FAKE_SHARD)
    return (sys.executable, str(script))


def run(
    cluster: str, fake: tuple[str, ...], shards: int, *args: str
) -> tuple[RayOutcome, list[str]]:
    lines: list[str] = []
    outcome = launch(
        "load", list(args), shards=shards, address=cluster, run_id="r-42",
        start_margin_s=1.0, log=lines.append, program=fake,
    )  # fmt: skip
    return outcome, lines


def node_ids(lines: list[str]) -> list[str]:
    """Each shard's node id, from the launcher's "shard K/N ready on node IP (ID)" lines."""
    return [line.rsplit("(", 1)[1].rstrip(")") for line in lines if " ready on node " in line]


def pids(pid_dir: Path, count: int) -> list[int]:
    """The shards' pids, once every shard has written its own."""
    deadline = time.monotonic() + STARTUP_S
    while len(files := sorted(pid_dir.glob("*.pid"))) < count or not all(
        f.read_text() for f in files
    ):
        assert time.monotonic() < deadline, f"shards did not start: {files}"
        time.sleep(0.1)
    return [int(f.read_text()) for f in files]


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # a zombie has died: its parent (the dead actor) never reaped it


def assert_die(pid_list: list[int]) -> None:
    deadline = time.monotonic() + STARTUP_S  # PR_SET_PDEATHSIG: the kernel kills them at once
    while not all(gone(pid) for pid in pid_list):
        assert time.monotonic() < deadline, f"shards {pid_list} outlived their actors"
        time.sleep(0.1)


@needs_ray
def test_two_shards_on_two_nodes_strict_spread(cluster: str, fake: tuple[str, ...]) -> None:
    outcome, lines = run(cluster, fake, 2)
    assert outcome.failed == ()
    assert (outcome.placement, outcome.nodes, outcome.run_id) == ("STRICT_SPREAD", 2, "r-42")
    assert [d["shard"] for d in outcome.documents] == [
        {"index": 0, "count": 2},
        {"index": 1, "count": 2},
    ]
    assert {d["run_id"] for d in outcome.documents} == {"r-42"}
    assert {d["start_at"] for d in outcome.documents} == {outcome.start_at}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", outcome.start_at)
    assert {d["command"] for d in outcome.documents} == {"load"}
    if os.geteuid() == 0:  # may lower its nice: not the 15 of Ray's workers
        assert {d["nice"] for d in outcome.documents} == {0}
    ids = node_ids(lines)
    assert len(set(ids)) == len(ids) == 2, lines  # one shard on each node
    assert not any("SPREAD placement" in line for line in lines)


@needs_ray
def test_more_shards_than_nodes_spread_and_said(cluster: str, fake: tuple[str, ...]) -> None:
    outcome, lines = run(cluster, fake, 3)
    assert outcome.failed == ()
    assert (outcome.placement, outcome.nodes) == ("SPREAD", 2)
    assert [d["shard"]["index"] for d in outcome.documents] == [0, 1, 2]
    assert "3 shards on 2 nodes: SPREAD placement (no node for each shard)" in lines
    assert len(set(node_ids(lines))) == 2  # spread still uses both nodes


@needs_ray
def test_a_shard_killed_mid_run_fails_the_launch_naming_it(
    cluster: str, fake: tuple[str, ...]
) -> None:
    outcome, _ = run(cluster, fake, 2, "--fail", "1", "--how", "sigkill")
    assert [d["shard"]["index"] for d in outcome.documents] == [0]
    [line] = outcome.failed
    assert line.startswith("shard 1/2 on node "), line
    assert "killed by SIGKILL" in line, line


@needs_ray
def test_a_dead_actor_fails_its_shard_and_takes_the_shard_with_it(
    cluster: str, fake: tuple[str, ...], tmp_path: Path
) -> None:
    outcome, _ = run(cluster, fake, 2, "--fail", "0", "--how", "kill-actor",
                     "--pid-dir", str(tmp_path))  # fmt: skip
    assert [d["shard"]["index"] for d in outcome.documents] == [1], outcome.failed
    [line] = outcome.failed
    assert line.startswith("shard 0/2 on node "), line
    assert "its Ray actor died" in line, line
    assert_die(pids(tmp_path, 2)[:1])


@needs_ray
def test_a_late_shard_fails_with_its_reason_and_no_secret(
    cluster: str, fake: tuple[str, ...]
) -> None:
    REDACTOR.add("user:Pa55-w0rd")
    try:
        outcome, lines = run(cluster, fake, 2, "--basic", "user:Pa55-w0rd", "--fail", "1",
                             "--how", "late")  # fmt: skip
    finally:
        REDACTOR.clear()
    assert len(outcome.documents) == 1
    [line] = outcome.failed
    assert line.startswith("shard 1/2 on node "), line
    assert ": exit 1: webhook-sim: error: late by 2.3 s (ready at +3.3 s; load --basic *** " in line
    assert all("Pa55" not in text for text in [*outcome.failed, *lines])


@needs_ray
def test_a_shard_without_a_document_fails(cluster: str, fake: tuple[str, ...]) -> None:
    outcome, _ = run(cluster, fake, 2, "--fail", "0", "--how", "garbage")
    [line] = outcome.failed
    assert line.startswith("shard 0/2 on node "), line
    assert "not one JSON document" in line, line


@needs_ray
def test_a_node_where_webhook_sim_does_not_run_fails_the_launch(cluster: str) -> None:
    with pytest.raises(ConfigError, match=r"shard 0/2 on node .*webhook-sim fails: exit 1"):
        launch("load", [], shards=2, address=cluster, run_id="r", log=lambda _: None,
               program=(sys.executable, "-c", "raise SystemExit(1)"))  # fmt: skip


def test_without_ray_one_line_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray: ImportError
    with pytest.raises(ConfigError, match=r"^--ray needs Ray: pip install 'webhook-sim\[ray\]'$"):
        launch("load", [], shards=2, address=None, run_id="r")


def test_the_parent_talks_not_the_shards() -> None:
    """--output and --quiet are the parent's, that prints the merged result: a shard writes its
    own document to stdout (--shard-out -) and would refuse --output json."""
    flags = {"url": "http://127.0.0.1:9/hook", "count": 50, "output": "json", "quiet": True,
             "ray": True, "shards": 2}  # fmt: skip
    args, _ = shard_command(params.RUN, flags)
    assert args == ["--url", "http://127.0.0.1:9/hook", "--count", "50"]


def fake_ray(calls: list[list[str]]) -> Callable[..., RayOutcome]:
    """`launch` without Ray: every shard a real `webhook-sim` process on this machine, run as
    the actor would run it."""

    def fake(command: str, args: list[str], *, shards: int, address: str | None, run_id: str,
             env: dict[str, str]) -> RayOutcome:  # fmt: skip
        documents, failed = [], []
        for k in range(shards):
            argv = shard_argv(command, args, k, shards, run_id, "+0s")
            calls.append(argv)
            done = subprocess.run(
                [sys.executable, "-m", "dispatcher", *argv], text=True, capture_output=True,
                env={**os.environ, **env}, timeout=120,
            )  # fmt: skip
            doc, why = shard_result(done.returncode, done.stdout, done.stderr)
            documents += [doc] if doc is not None else []
            failed += [f"shard {k}: {why}"] if doc is None else []
        return RayOutcome(tuple(documents), tuple(failed), "SPREAD", 1, run_id, "+0s")

    return fake


def test_ray_output_json_is_the_merged_report(
    shared_receiver: Callable[..., str], monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    calls: list[list[str]] = []
    monkeypatch.setattr("dispatcher.launch.ray.launch", fake_ray(calls))
    code = main(["run", "--url", shared_receiver(), "--count", "20", "--workers", "1", "--ray",
                 "--shards", "1", "--output", "json", "-q"])  # fmt: skip
    out, err = capfd.readouterr()
    assert code == 0, err
    doc = json.loads(out)  # the parent's one document, nothing else on stdout
    assert (doc["kind"], doc["notifications"]["delivered"]) == ("run", 20)
    assert not {"--output", "json", "-q", "--quiet"} & set(calls[0])


def driver(tmp_path: Path, fake: tuple[str, ...], address: str, mode: str, *args: str) -> Any:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return subprocess.Popen(
        [sys.executable, str(script), address, mode, fake[1], *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def finish(proc: Any) -> tuple[int, dict[str, Any] | None, str]:
    try:
        out, err = proc.communicate(timeout=STARTUP_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, json.loads(out) if out.strip() else None, err


@needs_ray
def test_without_an_address_a_local_ray_is_started_for_the_run(
    cluster: str, fake: tuple[str, ...], tmp_path: Path
) -> None:
    """Not the cluster that ran here last (the module's): a Ray of its own, of one node."""
    code, outcome, err = finish(driver(tmp_path, fake, "", "plain"))
    assert code == 0, err
    assert outcome is not None
    assert (outcome["placement"], outcome["nodes"], len(outcome["documents"])) == ("SPREAD", 1, 2)
    assert "a local Ray started for this run" in err
    assert "2 shards on 1 node: SPREAD placement (no node for each shard)" in err


@needs_ray
def test_ctrl_c_in_the_driver_kills_the_shards(
    cluster: str, fake: tuple[str, ...], tmp_path: Path
) -> None:
    proc = driver(tmp_path, fake, cluster, "plain", "--fail", "all", "--how", "stubborn",
                  "--pid-dir", str(tmp_path))  # fmt: skip
    shards = pids(tmp_path, 2)
    proc.send_signal(signal.SIGINT)  # no handler of ours: KeyboardInterrupt
    code, outcome, err = finish(proc)
    assert code != 0, err
    assert outcome is None
    assert "KeyboardInterrupt" in err
    assert_die(shards)


@needs_ray
def test_a_killed_driver_takes_the_shards_with_it(
    cluster: str, fake: tuple[str, ...], tmp_path: Path
) -> None:
    """Ray ends the actors of a driver that died (even by SIGKILL), and each shard its actor."""
    proc = driver(tmp_path, fake, cluster, "plain", "--fail", "all", "--how", "stubborn",
                  "--pid-dir", str(tmp_path))  # fmt: skip
    shards = pids(tmp_path, 2)
    proc.kill()
    finish(proc)
    assert_die(shards)


@needs_ray
def test_a_first_signal_stops_the_shards_gracefully_with_their_documents(
    cluster: str, fake: tuple[str, ...], tmp_path: Path
) -> None:
    proc = driver(tmp_path, fake, cluster, "cli", "--fail", "all", "--how", "slow",
                  "--pid-dir", str(tmp_path))  # fmt: skip
    pids(tmp_path, 2)
    proc.send_signal(signal.SIGINT)
    code, outcome, err = finish(proc)
    assert code == 0, err
    assert outcome is not None
    assert outcome["failed"] == []
    assert [d["interrupted"] for d in outcome["documents"]] == [True, True]


@needs_ray
def test_a_second_signal_kills_the_shards(
    cluster: str, fake: tuple[str, ...], tmp_path: Path
) -> None:
    proc = driver(tmp_path, fake, cluster, "cli", "--fail", "all", "--how", "stubborn",
                  "--pid-dir", str(tmp_path))  # fmt: skip
    shards = pids(tmp_path, 2)
    proc.send_signal(signal.SIGINT)
    time.sleep(1)  # ordering only: the second one after the first has been forwarded
    proc.send_signal(signal.SIGTERM)
    code, outcome, err = finish(proc)
    assert code == 0, err
    assert outcome is not None
    assert outcome["documents"] == []
    assert [line.split(" on node ")[0] for line in outcome["failed"]] == ["shard 0/2", "shard 1/2"]
    # The actor killed first, or its shard seen dead first (the kernel kills a shard with its
    # actor): either way each is named as stopped, never as having finished.
    assert all(
        line.endswith(": stopped now (second signal)") or ": killed by SIGKILL" in line
        for line in outcome["failed"]
    ), outcome["failed"]
    assert_die(shards)


def cli(*argv: str) -> subprocess.Popen[str]:
    """`webhook-sim ARGV` as its own process (its own Ray driver), its credentials by env."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "WEBHOOK_SIM_BASIC": "ray:S3cret-pw"}
    return subprocess.Popen(
        [sys.executable, "-m", "dispatcher", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def shard_pids(index: int, count: int, run_id: str) -> list[int]:
    """The running shard processes of run `run_id` with `--shard INDEX/COUNT` on their command
    line (other tests' shards may be running beside them)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                words = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"{index}/{count}".encode() in words and run_id.encode() in words:
                found.append(int(entry.name))
    return found


@needs_ray
def test_load_on_ray_merges_to_the_one_machine_report(
    cluster: str, receiver_process: Callable[..., str], tmp_path: Path
) -> None:
    url = receiver_process("--basic", "ray:S3cret-pw")
    load = ("load", "--url", url, "--rate", "40", "--duration", "1s", "--seed", "5",
            "--flow", "by-client", "--duplicates", "0.2", "--workers", "1")  # fmt: skip
    one, merged = tmp_path / "one.json", tmp_path / "ray.json"
    alone = cli(*load, "--report-json", str(one))
    out, err = alone.communicate(timeout=STARTUP_S)
    assert alone.returncode == 0, out + err
    ray = cli(*load, "--ray", "--shards", "2", "--ray-address", cluster,
              "--expect", "delivered_ratio == 1", "--report-json", str(merged))  # fmt: skip
    out, err = ray.communicate(timeout=STARTUP_S * 2)
    assert ray.returncode == 0, out + err
    assert "S3cret-pw" not in out + err + merged.read_text()
    report, baseline = json.loads(merged.read_text()), json.loads(one.read_text())
    assert report["shards"]["merged"] == [0, 1]
    assert report["notifications"] == baseline["notifications"]
    assert report["duplicates_sent"] == baseline["duplicates_sent"]
    assert report["notifications"]["delivered"] == report["notifications"]["scheduled"] > 40
    assert "PASS delivered_ratio == 1" in out


@needs_ray
def test_a_real_shard_killed_mid_run_fails_the_run_naming_it(
    cluster: str, receiver_process: Callable[..., str], tmp_path: Path
) -> None:
    url = receiver_process("--basic", "ray:S3cret-pw")
    merged, run_id = tmp_path / "ray.json", f"killed-{os.getpid()}-{time.monotonic_ns()}"
    ray = cli("load", "--url", url, "--rate", "20", "--duration", "60s", "--workers", "1",
              "--ray", "--shards", "2", "--ray-address", cluster, "--run-id", run_id,
              "--report-json", str(merged))  # fmt: skip
    deadline = time.monotonic() + STARTUP_S
    while not (victims := shard_pids(1, 2, run_id)):
        assert ray.poll() is None, ray.communicate()
        assert time.monotonic() < deadline, "shard 1/2 never started"
        time.sleep(0.1)
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)  # not a measurement: shard 0 keeps going; stop it early
    ray.send_signal(signal.SIGINT)
    out, err = ray.communicate(timeout=STARTUP_S)
    assert ray.returncode in (1, 130), out + err
    assert re.search(r"shard 1/2 on node \S+ \(\w+\): killed by SIGKILL", out + err), out + err
    assert merged.exists(), out + err
    report = json.loads(merged.read_text())
    assert report["shards"]["merged"] == [0]
    assert report["shards"]["missing"] == [1]
    assert any("shard 1/2" in line for line in report["workers_failed"])
