"""`run|load ... --ray --shards N`: one shard per node of a Ray cluster, started at one instant.

Each shard is an actor of a placement group (STRICT_SPREAD when there is a node for each, else
SPREAD) running the command line on its node: phase 1 shows webhook-sim runs there, phase 2
gives one start instant and brings each shard's JSON document back through Ray.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from subprocess import DEVNULL, PIPE, Popen
from typing import Any

from ..redact import REDACTOR
from ..signals import SIGNALS
from . import DIE_WITH_PARENT, LaunchError, print_to_stderr, shard_argv, shard_result, start_instant

# The CPU a shard claims: its work is a subprocess Ray does not count, so this only holds a place.
# A whole CPU would wait on CPUs other jobs hold, and keep a 1-CPU node from a second shard.
SHARD_CPU = 0.01
READY_TIMEOUT_S = 120.0
POLL_S = 0.5  # how often the driver looks at the stop signals
STARTUP_MARGIN = 5.0  # start at least this many times the slowest `--version` run ahead


@dataclass(frozen=True)
class RayOutcome:
    documents: tuple[dict[str, Any], ...]  # each shard's JSON, in shard order, of those that ran
    failed: tuple[str, ...]  # one line per shard that failed, naming it, its node and why
    placement: str  # "STRICT_SPREAD" or "SPREAD"
    nodes: int  # alive nodes in the cluster
    run_id: str
    start_at: str  # the instant given to every shard, RFC 3339 UTC


def _shard_actor(ray: Any) -> Any:
    """The actor class. It uses nothing of webhook-sim: where that is missing, `ready` says so."""

    def unnice() -> int:  # Ray runs workers at nice 15; a shard starts from this thread's nice
        with contextlib.suppress(OSError):  # lowering it needs CAP_SYS_NICE or RLIMIT_NICE
            os.setpriority(os.PRIO_PROCESS, 0, min(0, os.getpriority(os.PRIO_PROCESS, 0)))
        return os.getpriority(os.PRIO_PROCESS, 0)

    @ray.remote(num_cpus=SHARD_CPU, max_concurrency=2)  # `interrupt` while `run` runs
    class Shard:
        proc: Any = None

        def ready(self, program: Sequence[str] | None) -> tuple[str, str, str, int, float]:
            argv = [*(program or [sys.executable, "-m", "dispatcher"]), "--version"]
            nice, start = unnice(), time.monotonic()
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
                said = (done.stdout + done.stderr).strip().splitlines() or [""]
                problem = "" if done.returncode == 0 else f"exit {done.returncode}: {said[-1]}"
            except (OSError, subprocess.SubprocessError) as exc:
                problem = str(exc)
            node, ip = ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()
            return node, ip, problem, nice, time.monotonic() - start

        def run(
            self, program: Sequence[str] | None, args: list[str], env: dict[str, str]
        ) -> tuple[int, str, str]:
            argv = [*(program or [sys.executable, "-m", "dispatcher"]), *args]
            wrapped = [sys.executable, "-c", DIE_WITH_PARENT, str(os.getpid()), *argv]
            unnice()
            # Credentials by environment, never on a command line another user's `ps` shows.
            self.proc = Popen(wrapped, stdin=DEVNULL, stdout=PIPE, stderr=PIPE, text=True,
                              env={**os.environ, **env})  # fmt: skip
            out, err = self.proc.communicate()
            return self.proc.returncode, out, "\n".join(err.splitlines()[-20:])

        def interrupt(self) -> None:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)

    return Shard


def launch(
    command: str, args: list[str], *, shards: int, address: str | None, run_id: str,
    start_margin_s: float = 5.0, log: Callable[[str], None] = print_to_stderr,
    program: Sequence[str] | None = None,  # what runs a shard; default: webhook-sim on its node
    ready_timeout_s: float = READY_TIMEOUT_S,
    env: dict[str, str] | None = None,  # for every shard's process: credentials
) -> RayOutcome:  # fmt: skip
    try:
        import ray
        from ray.util.placement_group import placement_group, remove_placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy as InBundle
    except ImportError:
        raise LaunchError("--ray needs Ray: pip install 'webhook-sim[ray]'") from None
    address = address or os.environ.get("RAY_ADDRESS") or None
    started = not ray.is_initialized()
    if started:  # "local": a Ray of its own; None would join whatever cluster ran here last
        handlers = [(s, signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGTERM)]
        memory = None if address else 100 << 20  # the object store only carries JSON documents
        try:
            ray.init(address=address or "local", include_dashboard=False, log_to_driver=False,
                     logging_level=logging.ERROR, object_store_memory=memory)  # fmt: skip
        except ConnectionError as exc:  # after about 40 s of trying
            raise LaunchError(f"--ray-address {address}: {exc}") from None
        for sig, handler in handlers:  # ray.init puts in a SIGTERM handler of its own
            signal.signal(sig, handler) if handler is not None else None
    log(f"Ray: {'cluster at ' + address if address else 'a local Ray started for this run'}")
    pg, names = None, [f"shard {k}/{shards}" for k in range(shards)]
    try:
        alive = [n for n in ray.nodes() if n.get("Alive")]  # type: ignore[no-untyped-call]
        usable = sum(n.get("Resources", {}).get("CPU", 0) >= SHARD_CPU for n in alive)
        strategy = "STRICT_SPREAD" if usable >= shards else "SPREAD"
        if strategy == "SPREAD":
            nodes = f"{usable} node{'s' * (usable != 1)}"
            log(f"{shards} shards on {nodes}: SPREAD placement (no node for each shard)")
        pg = placement_group([{"CPU": SHARD_CPU}] * shards, strategy=strategy)
        if not _wait(ray, [pg.ready()], ready_timeout_s):
            where = f"{ready_timeout_s:g} s ({strategy}; {usable} of {len(alive)} nodes have a CPU)"
            raise LaunchError(f"Ray placed none of {', '.join(names)} in {where}")
        shard = _shard_actor(ray)
        actors = [
            shard.options(scheduling_strategy=InBundle(pg, k)).remote() for k in range(shards)
        ]
        nodes_of, slowest = _ready(ray, actors, names, program, ready_timeout_s, log)
        start_at = start_instant(margin := max(start_margin_s, STARTUP_MARGIN * slowest))
        log(f"Ray: {shards} shards start at {start_at}, in {margin:.1f} s (run {run_id})")
        runs = {
            a.run.remote(
                program, shard_argv(command, args, k, shards, run_id, start_at), env or {}
            ): k
            for k, a in enumerate(actors)
        }
        results: dict[int, tuple[dict[str, Any] | None, str]] = {}
        pending, asked = list(runs), 0
        while pending:
            finished, pending = ray.wait(pending, num_returns=1, timeout=POLL_S)
            for ref in finished:
                try:
                    results[runs[ref]] = shard_result(*ray.get(ref))
                except ray.exceptions.RayError as exc:
                    why = "stopped now (second signal)" if asked >= 2 else _reason(ray, exc)
                    results[runs[ref]] = (None, why)
            if len(SIGNALS.received) > asked:  # first: stop gracefully, with a document
                asked = min(len(SIGNALS.received), 2)
                for a in (actors[runs[ref]] for ref in pending):
                    a.interrupt.remote() if asked == 1 else ray.kill(a)
        done = sorted(results.items())
        return RayOutcome(
            tuple(doc for _, (doc, _) in done if doc is not None),
            tuple(REDACTOR.scrub(f"{names[k]} on node {nodes_of[k]}: {why}")
                  for k, (doc, why) in done if doc is None),
            placement=strategy, nodes=len(alive), run_id=run_id, start_at=start_at,
        )  # fmt: skip
    finally:  # on KeyboardInterrupt too: removing the group kills its actors, and their shards
        with contextlib.suppress(Exception):  # already gone, or Ray is
            remove_placement_group(pg) if pg is not None else None
        if started:
            ray.shutdown()


def _ready(ray: Any, actors: list[Any], names: list[str], program: Sequence[str] | None,
           timeout_s: float, log: Callable[[str], None]) -> tuple[list[str], float]:  # fmt: skip
    """Phase 1: each shard's node ("IP (node id)") and the slowest `webhook-sim --version`."""
    refs = [a.ready.remote(program) for a in actors]
    done = _wait(ray, refs, timeout_s)
    nodes_of, problems, slowest = [""] * len(refs), [], 0.0
    for k, ref in enumerate(refs):
        try:
            if ref not in done:
                raise TimeoutError(f"not ready in {timeout_s:g} s")
            node, ip, problem, nice, took = ray.get(ref)
            slowest = max(slowest, took)
        except (TimeoutError, ray.exceptions.RayError) as exc:
            problems.append(f"{names[k]}: {_reason(ray, exc)}")
            continue
        nodes_of[k] = f"{ip} ({node[:8]})"
        low = f", at nice {nice}: RAY_worker_niceness=0 on the cluster avoids it" if nice else ""
        log(f"{names[k]} ready on node {nodes_of[k]}{low}")
        if problem:
            problems.append(f"{names[k]} on node {nodes_of[k]}: webhook-sim fails: {problem}")
    if problems:
        raise LaunchError(REDACTOR.scrub("; ".join(problems)))
    return nodes_of, slowest


def _wait(ray: Any, refs: list[Any], timeout_s: float) -> list[Any]:
    """The refs done in the time given; a stop signal meanwhile ends the launch."""
    for _ in range(max(1, round(timeout_s / POLL_S))):
        if SIGNALS.received:
            raise KeyboardInterrupt
        done, pending = ray.wait(refs, num_returns=len(refs), timeout=POLL_S)
        if not pending:
            break
    return list(done)


def _reason(ray: Any, exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [""]
    first = next((line for line in lines if line.startswith("The actor is dead because")), lines[0])
    died = isinstance(exc, ray.exceptions.RayActorError)
    return f"{'its Ray actor died' if died else type(exc).__name__}: {first}"
