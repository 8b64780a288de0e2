"""`replay`: the notifications of an attempt log or a receiver recording, selected by how they
ended, sent again (same bodies, same order) with the usual settings, auth and reports; or
printed as curl commands that reproduce them, the credential read from the environment."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from .. import USER_AGENT
from ..credentials import is_secret_header
from ..engine import Engine, EngineOptions
from ..errors import ConfigError
from ..replayfile import ONLY, Only, Selected, read_replay
from ..report import run_report
from ..settings import RunOptions, Settings, build_settings, shown, validate_flags
from ..signals import SIGNALS
from ..traffic import given_body
from .flags import Flags, settings_flags
from .payload import attempt_log
from .run import RunResult


@dataclass(frozen=True)
class ReplayJob:
    settings: Settings
    selected: Selected
    keep_timing: bool
    options: RunOptions
    log: Path | None
    print_curl: bool

    @classmethod
    def from_flags(cls, flags: Flags) -> ReplayJob:
        only = flags.get("only") or "failed"
        if only not in ONLY:
            raise ConfigError(f"--only = {shown(only)}: allowed: {', '.join(ONLY)}")
        selected = read_replay(flags["source"], cast(Only, only))
        given = settings_flags(flags)
        given.setdefault("url", selected.url)
        if given["url"] is None:
            raise ConfigError(f"--url is required: {flags['source']} is a receiver recording, "
                              "which names no URL")  # fmt: skip
        rate: float | None = flags.get("rate")
        if rate is not None:
            if flags.get("keep_timing") or flags.get("max_rate") is not None:
                other = "--keep-timing" if flags.get("keep_timing") else "--max-rate"
                raise ConfigError(f"--rate and {other} do not go together: pick one pace")
            given["max_rate"] = rate
        settings = build_settings(config=flags.get("config"), flags=given)
        options = validate_flags(RunOptions, {"grace_s": flags.get("grace")})
        return cls(settings, selected, bool(flags.get("keep_timing")), options,
                   None if flags.get("print_curl") else attempt_log(flags),
                   bool(flags.get("print_curl")))  # fmt: skip

    def describe(self) -> str:
        s, n = self.selected, len(self.selected.bodies)
        pace = "at their recorded spacing" if self.keep_timing else "as fast as allowed"
        if self.settings.max_rate is not None:
            pace = f"at most {self.settings.max_rate:g}/s"
        return (f"replay {n} of the {s.seen} notifications of the {s.kind} to {self.settings.url}"
                f", {pace}")  # fmt: skip

    def engine(self) -> Engine:
        from ..attemptlog import AttemptLog

        observer = AttemptLog.of(self.log, self.settings) if self.log is not None else None
        options = EngineOptions(grace_s=self.options.grace_s, http_client="lean")
        return Engine(self.settings, options=options, observer=observer)


async def replay(job: ReplayJob, engine: Engine | None = None) -> RunResult:
    engine = engine or job.engine()
    notes = [given_body(body) for body in job.selected.bodies]
    schedule = None
    if job.keep_timing and job.selected.at_s:
        first = job.selected.at_s[0]
        schedule = [at - first for at in job.selected.at_s]
    metrics = await engine.run(notes, schedule=schedule)
    first_signal = SIGNALS.first
    report = run_report(metrics, job.settings,
                        interrupted=first_signal.name if first_signal else None)  # fmt: skip
    return RunResult(report, ())


def curl_script(job: ReplayJob) -> str:
    """A shell script of one curl command per selected notification, as webhook-sim would send
    it; credentials come from the environment (WEBHOOK_SIM_*), never written out."""
    s, auth = job.settings, job.settings.auth
    lines = ["#!/bin/sh", f"# {job.describe()}", "set -eu"]
    head = ["curl", "-sS", "--fail-with-body", "-X", "POST", "-H", f"User-Agent: {USER_AGENT}",
            "-H", "Content-Type: application/json"]  # fmt: skip
    for name, value in s.headers:
        if is_secret_header(name):  # named like a credential: never written out
            lines.append(f"# add -H '{name}: ...' yourself: a credential is never written")
        else:
            head += ["-H", f"{name}: {value}"]
    secret = ""
    if auth.type == "basic":
        lines.append("# needs WEBHOOK_SIM_BASIC=USER:PASS in the environment")
        secret = '-u "$WEBHOOK_SIM_BASIC"'
    elif auth.type == "api-key":
        key = auth.api_key_credentials()
        lines.append("# needs WEBHOOK_SIM_API_KEY (as given to --api-key) in the environment")
        secret = (f'-H "{key.header}: ${{WEBHOOK_SIM_API_KEY#*:}}"' if key and key.named
                  else '-H "Authorization: $WEBHOOK_SIM_API_KEY"')  # fmt: skip
    elif auth.type == "oauth2":
        lines.append("# needs WEBHOOK_SIM_CLIENT_SECRET in the environment")
        form = ["-d", "grant_type=client_credentials"]
        if auth.scope:
            form += ["--data-urlencode", f"scope={auth.scope}"]
        client = (f'-u {shlex.quote(str(auth.client_id))}:"$WEBHOOK_SIM_CLIENT_SECRET"'
                  if auth.client_auth == "basic" else
                  f'--data-urlencode {shlex.quote("client_id=" + str(auth.client_id))} '
                  '--data-urlencode "client_secret=$WEBHOOK_SIM_CLIENT_SECRET"')  # fmt: skip
        lines.append(
            f"TOKEN=$(curl -sS --fail-with-body {client} {shlex.join(form)} "
            f"{shlex.quote(str(auth.token_url))}"
            " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
        )
        secret = '-H "Authorization: Bearer $TOKEN"'
    for name, _ in s.secret_headers:
        lines.append(f"# add -H '{name}: ...' yourself: a --secret-header is never written")
    for body in job.selected.bodies:
        data = ["--data-binary", body.decode("utf-8", "replace"), s.url]
        parts = (shlex.join(head), secret, shlex.join(data))
        lines.append(" ".join(part for part in parts if part))
    return "\n".join(lines) + "\n"
