"""`plan`: one `run` or `load` split over N machines that all start at the same instant, as a
Kubernetes Indexed Job, a GitHub Actions workflow or an ssh script (`dispatcher.jobs.emitters`).

Every machine runs the same command plus `--shard K/N --run-id ID --start-at T --shard-out ...`,
and `webhook-sim merge` puts the shards' results back together. Nothing here runs anything: a
plan is text to review and apply. No secret ever goes into it: a credential flag is dropped, and
the environment variable the tool reads in its place is wired from where each kind of machine
keeps secrets (a Kubernetes Secret, a GitHub secret, the host's environment); a credential that
has no such variable is refused.
"""

from __future__ import annotations

import math
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..credentials import is_secret_header
from ..errors import ConfigError
from ..quoting import shown
from .flags import Flags
from .params import Param, Str, p

EMITTERS = ("k8s", "gha", "ssh")
MAX_SHARDS = 1000
GHA_MAX_SHARDS = 256  # GitHub makes at most 256 jobs of one matrix per workflow run
DEFAULT_START_IN = "120s"
DEFAULT_IMAGE = "webhook-sim:latest"
SECRET_NAME = "webhook-sim-credentials"  # the Kubernetes Secret the manifest reads them from
# What a k8s pod prints before its shard's JSON: `kubectl logs` interleaves stdout and stderr,
# so the JSON is printed after the run, behind this line, and cut out of the log at it.
MARKER = "--- webhook-sim shard json ---"
RESULTS_MOUNT = "/results"  # the pod's scratch volume the shard writes its JSON to

SHARD_FLAGS = ("--shard", "--run-id", "--start-at", "--shard-out")  # the plan's to set
# Judged on the merged result, or what the merge says: a shard's stdout may be its document.
MERGE_FLAGS = ("--expect", "--report-json", "--report-html", "--output")
MERGE_SWITCHES = ("--quiet", "-q")
_RUN_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")  # a k8s label value
_UNIX = re.compile(r"\d{1,11}(?:\.\d+)?")
_HOST = re.compile(r"[A-Za-z0-9_.@:\[\]%-]+")

# fmt: off
PLAN = (
    p("shards", int, help="Machines to split the command over, 1..1000 (gha: 256).",
      default=...),
    p("emit", str, help="What to print: k8s (an Indexed Job manifest), gha (a GitHub Actions "
      "workflow) or ssh (a shell script).", default=...),
    p("start_in", Str, help="How long after now the shards start (gha: after its schedule "
      "job runs): 30s, 2m. Default: 120s."),
    p("start_at", Str, help="Or the instant they start: RFC 3339 (2026-11-26T16:00:00Z), unix "
      "seconds, or +30s (the same as --start-in 30s)."),
    p("run_id", Str, help="The run id every shard shares. Default: a fresh one (gha: the "
      "workflow run's)."),
    p("image", Str, help=f"k8s: an image with webhook-sim installed. Default: {DEFAULT_IMAGE}."),
    p("host", list[str] | None, help="ssh: a machine to run a shard on, [USER@]HOST "
      "(repeatable, cycled over the shards). Default: placeholders host-0, host-1..."),
    p("results_dir", Str, help="Where the shards' results are gathered to merge. Default: "
      "webhook-sim-RUN_ID (gha: shards)."),
    Param("command", list[str] | None, (), "The run or load command to split, after --.", None),
)
# fmt: on


@dataclass(frozen=True)
class Command:
    """The command each shard runs, less what the plan handles itself."""

    words: tuple[str, ...]  # run|load and its options: no credential, no merge flag
    merge: tuple[str, ...]  # --expect, --report-json, --report-html, --output, -q: the merge's
    env: tuple[str, ...]  # the credential variables every shard needs


def _value(words: Sequence[str], i: int) -> tuple[str, str | None, int]:
    """The option at `words[i]`: its name, its value (`--x=V`, `-HV`, or the next word) and how
    many words the two take."""
    word = words[i]
    if word.startswith("--") and "=" in word:
        name, _, value = word.partition("=")
        return name, value, 1
    if word.startswith("-H") and len(word) > 2 and not word.startswith("--"):
        return "-H", word[2:], 1
    return word, words[i + 1] if i + 1 < len(words) else None, 2


def _no_userinfo(words: Sequence[str]) -> None:
    from ..settings.urls import redact_url  # here: `webhook-sim --help` reads PLAN, fast

    for i, word in enumerate(words):
        name, eq, value = word.partition("=") if word.startswith("--") else ("", "", word)
        if redact_url(value) != value:
            flag = name if eq else (words[i - 1] if i and words[i - 1].startswith("-") else "")
            raise ConfigError(
                f"{flag or 'a URL in the command'}: credentials in a URL (USER:PASS@) would be "
                "copied into the plan; give them as --basic (from WEBHOOK_SIM_BASIC) or in a "
                "config file on every machine"
            )


def parse_command(words: Sequence[str], env: Mapping[str, str]) -> Command:
    """The command after `--`, checked; the credentials it names (or this environment holds)
    become environment variables to wire."""
    if not words:
        raise ConfigError(
            "give the command to split after --, e.g. webhook-sim plan --shards 4 --emit k8s "
            "-- load --url URL --rate 1000"
        )
    if words[0] not in ("run", "load"):
        raise ConfigError(f"the command after -- is {shown(words[0])}: plan splits run or load")
    _no_userinfo(words)
    from ..settings.sources import ENV_SECRETS

    # Credential flags that have an environment variable: dropped from the plan, wired instead.
    env_flags = {"--" + key.replace("_", "-"): name for key, name in ENV_SECRETS.items()}
    kept, merge = [words[0]], []
    wired = {name for name in ENV_SECRETS.values() if env.get(name)}
    rest, i = words[1:], 0
    while i < len(rest):
        name, value, width = _value(rest, i)
        if name in env_flags:
            wired.add(env_flags[name])
            i += width
            continue
        header = (value or "").partition(":")[0].strip()
        if name == "--secret-header" or (name in ("-H", "--header") and is_secret_header(header)):
            # The header's name quoted: `Authorization: ...` would read as a secret and be masked.
            flag = "--secret-header" if name == "--secret-header" else f"{name} {shown(header)}"
            raise ConfigError(
                f"{flag} is a credential: it would be copied into the plan, and a header has no "
                "environment variable; use --api-key HEADER:VALUE (from WEBHOOK_SIM_API_KEY) or "
                "secret_headers in a config file on every machine"
            )
        if name in SHARD_FLAGS:
            raise ConfigError(f"{name}: plan sets it for every shard; take it out of the command")
        if name == "--junit":
            raise ConfigError(
                "--junit: not for a split run; the merge writes --report-json and --report-html"
            )
        if name in MERGE_FLAGS and value is not None:
            merge += [name, value]  # a threshold holds for the whole run, not for one shard
            i += width
            continue
        if name in MERGE_SWITCHES:
            merge.append(name)
            i += 1
            continue
        kept.append(rest[i])
        i += 1
    return Command(tuple(kept), tuple(merge), tuple(n for n in ENV_SECRETS.values() if n in wired))


@dataclass(frozen=True)
class Start:
    at: str  # the instant every shard is given: RFC 3339 UTC, or as given (absolute)
    after_s: int | None  # when given as a delay: the seconds (gha adds them at run time)


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def start_instant(start_in: str | None, start_at: str | None, now: datetime) -> Start:
    """The instant the shards start: `now` plus a delay, in whole seconds, or one given."""
    from ..arrivals import parse_duration
    from ..shards import parse_start_at

    if start_in is not None and start_at is not None:
        raise ConfigError("--start-in and --start-at do not go together: give one")
    if start_at is not None and not start_at.startswith("+"):
        if parse_start_at(start_at, now=now.timestamp()) <= now.timestamp():
            raise ConfigError(f"--start-at = {shown(start_at)}: in the past (now: {_utc(now)})")
        return Start(start_at, None)
    text, flag = (start_at[1:], "--start-at") if start_at else (start_in, "--start-in")
    seconds = math.ceil(parse_duration(text or DEFAULT_START_IN, flag=flag))
    if seconds <= 0:
        raise ConfigError(f"{flag} = {shown(text)}: must be more than 0")
    moment = now.replace(microsecond=0) + timedelta(seconds=seconds + (now.microsecond > 0))
    return Start(_utc(moment), seconds)


@dataclass(frozen=True)
class Plan:
    command: Command
    shards: int
    emit: str
    run_id: str  # gha without --run-id: an expression of the workflow run
    start: Start
    image: str
    hosts: tuple[str, ...]
    results_dir: str

    @classmethod
    def from_flags(
        cls, flags: Flags, *, now: datetime | None = None, env: Mapping[str, str] | None = None
    ) -> Plan:
        emit, shards = flags["emit"], flags["shards"]
        if emit not in EMITTERS:
            raise ConfigError(f"--emit = {shown(emit)}: must be one of {', '.join(EMITTERS)}")
        most = GHA_MAX_SHARDS if emit == "gha" else MAX_SHARDS
        if not 1 <= shards <= most:
            raise ConfigError(f"--shards = {shards}: must be between 1 and {most}")
        for name, only in (("image", "k8s"), ("host", "ssh")):
            if flags.get(name) and emit != only:
                raise ConfigError(f"--{name} is for --emit {only}, not {emit}")
        command = parse_command(flags.get("command") or (), os.environ if env is None else env)
        run_id = flags.get("run_id")
        if run_id is not None and not _RUN_ID.fullmatch(run_id):
            raise ConfigError(
                f"--run-id = {shown(run_id)}: 1 to 63 letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit"
            )
        if run_id is None:
            gha = "${{ github.run_id }}-${{ github.run_attempt }}"
            run_id = gha if emit == "gha" else uuid.uuid4().hex[:12]
        start = start_instant(flags.get("start_in"), flags.get("start_at"), now or _now())
        hosts = tuple(flags.get("host") or placeholders(shards))
        if len(hosts) > shards:
            raise ConfigError(f"--host given {len(hosts)} times for {shards} shard(s)")
        for host in hosts:
            if host.startswith("-") or not _HOST.fullmatch(host):
                raise ConfigError(f"--host = {shown(host)}: not a host name ([USER@]HOST)")
        default_dir = "shards" if emit == "gha" else f"webhook-sim-{run_id}"
        return cls(
            command, shards, emit, run_id, start, flags.get("image") or DEFAULT_IMAGE, hosts,
            flags.get("results_dir") or default_dir,
        )  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC)


def placeholders(shards: int) -> tuple[str, ...]:
    return tuple(f"host-{k}" for k in range(shards))
