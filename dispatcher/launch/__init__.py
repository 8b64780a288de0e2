"""Launchers: one `run` or `load` split into shards, each the ordinary command line run with
`--shard K/N --run-id ID --start-at T --shard-out -` on its own machine, all started at one
instant; the launcher hands back each shard's JSON document for `dispatcher.jobs.merge`.

Here is the shard contract as every launcher sees it: the arguments a shard gets, the start
instant, what a shard process's exit and output mean, and the wrapper that makes a shard die
with the process that started it. Nothing here imports an engine: webhook-sim works without.

`dispatcher.launch.ray` places the shards on a Ray cluster. A shard that cannot be placed, or
whose node cannot run webhook-sim, fails the launch (`LaunchError`, naming it); one that dies,
exits non-zero or prints no document is a line of the outcome's `failed`, naming it and its node.
The first stop signal goes on to every shard as SIGINT (each still sends its document), the
second kills them. The arguments (secrets among them) are never logged.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import ConfigError

# Put in front of a shard's command line (argv[1]: the parent's pid): the kernel kills the shard
# when its parent dies, even by SIGKILL (a killed actor, a lost node). Not preexec_fn: that is
# unsafe in a threaded parent, as a Ray worker is. The shard gets back the signals the parent's
# thread blocks (Ray's block SIGINT) and that Python ignores (SIGPIPE, SIGXFSZ), and the normal
# priority where it may: Ray runs its workers at nice 15, and on a busy node a load generator
# that low would start late (by 30 s beside two CPU hogs) and measure its own starvation.
DIE_WITH_PARENT = """import contextlib, ctypes, os, signal, sys
with contextlib.suppress(OSError, AttributeError):
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
os.getppid() == int(sys.argv[1]) or os._exit(137)  # the parent died before that took hold
signal.pthread_sigmask(signal.SIG_SETMASK, ())
for name in ("SIGPIPE", "SIGXFSZ"):
    signal.signal(getattr(signal, name), signal.SIG_DFL)
with contextlib.suppress(OSError):  # lowering one's nice needs CAP_SYS_NICE or RLIMIT_NICE
    os.setpriority(os.PRIO_PROCESS, 0, min(0, os.getpriority(os.PRIO_PROCESS, 0)))
os.execvp(sys.argv[2], sys.argv[2:])"""


class LaunchError(ConfigError):
    """The shards could not be started (no engine, no room for them, a node where webhook-sim
    does not run): one line naming the shards, exit code 2 as any ConfigError. A shard that
    fails once started is not an error but a line of the launcher's `failed`."""


def print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def start_instant(margin_s: float) -> str:
    """Now plus the margin, RFC 3339 UTC with milliseconds (2026-11-26T16:00:00.250Z)."""
    instant = datetime.now(UTC) + timedelta(seconds=margin_s)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def shard_argv(
    command: str, args: list[str], index: int, count: int, run_id: str, start_at: str
) -> list[str]:
    """What shard `index` (from 0) of `count` runs, after the program (`webhook-sim`)."""
    shard = ["--shard", f"{index}/{count}", "--run-id", run_id, "--start-at", start_at]
    return [command, *args, *shard, "--shard-out", "-"]


def shard_result(code: int, out: str, err: str) -> tuple[dict[str, Any] | None, str]:
    """A finished shard process's document, or None and why there is none (with the last line
    of its stderr: unscrubbed, the caller scrubs)."""
    last = f": {err.strip().splitlines()[-1]}" if err.strip() else ""
    if code < 0:
        with contextlib.suppress(ValueError):
            return None, f"killed by {signal.Signals(-code).name}{last}"
        return None, f"killed by signal {-code}{last}"
    if code not in (0, 130, 143):  # 130/143: stopped by a signal, its document still written
        return None, f"exit {code}{last}"
    if code != 0 and not out.strip():
        return None, f"exit {code}{last}"
    try:
        doc = json.loads(out)
    except ValueError as exc:
        return None, f"its output is not one JSON document ({exc})"
    return (doc, "") if isinstance(doc, dict) else (None, "its output is not a JSON object")
