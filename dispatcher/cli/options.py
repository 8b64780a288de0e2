"""Every command-line option, declared once.

A command names the options it takes (`dispatcher.cli.declare.command`); the help text, type
and default live here, so `--timeout` means and says the same in every command that takes it.
An option whose meaning differs by command (`--status` of `send` and of `receiver`) is two
options with two names.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, get_args

import typer


@dataclass(frozen=True)
class Opt:
    """One parameter of a command: its `Annotated[type, typer.Option(...)]` and default."""

    annotation: Any
    default: Any = None

    def but(self, *, help: str | None = None, default: Any = ...) -> Opt:
        """The same flag with another help text or default (`--port` 8000 or 8080)."""
        base, info = get_args(self.annotation)
        if help is not None:
            info = copy.copy(info)
            info.help = help
        return Opt(Annotated[base, info], self.default if default is ... else default)


def option(kind: Any, *names: str, help: str, default: Any = None, **extra: Any) -> Opt:
    return Opt(Annotated[kind, typer.Option(*names, help=help, **extra)], default)


def argument(kind: Any, *, help: str, default: Any = ..., metavar: str | None = None) -> Opt:
    return Opt(Annotated[kind, typer.Argument(help=help, metavar=metavar)], default)


OPTIONS: dict[str, Opt] = {
    # Where and how to reach the receiver -------------------------------------------------------
    "url": option(str | None, "--url", help="The receiver's notification URL."),
    "config": option(
        Path | None, "--config", "-c", help="TOML or YAML settings file; flags override it."
    ),
    "auth": option(
        str | None,
        "--auth",
        help="none | basic | api-key | oauth2. Default: inferred from the credentials given, "
        "else none.",
    ),
    "basic": option(
        str | None,
        "--basic",
        help="USER:PASS for Basic auth (env WEBHOOK_SIM_BASIC).",
        show_default=False,
    ),
    "api_key": option(
        str | None,
        "--api-key",
        help="HEADER:VALUE, or VALUE alone (sent as 'Authorization: VALUE') "
        "(env WEBHOOK_SIM_API_KEY).",
    ),
    "token_url": option(str | None, "--token-url", help="OAuth2 token endpoint."),
    "client_id": option(str | None, "--client-id", help="OAuth2 client id."),
    "client_secret": option(
        str | None,
        "--client-secret",
        help="OAuth2 client secret (env WEBHOOK_SIM_CLIENT_SECRET).",
    ),
    "scope": option(str | None, "--scope", help="OAuth2 scope to request."),
    "client_auth": option(
        str | None,
        "--client-auth",
        help="How the client authenticates to the token endpoint: basic (client_secret_basic) "
        "or post (client_secret_post). Default: basic.",
    ),
    "header": option(
        list[str] | None,
        "--header",
        "-H",
        help="Extra request header NAME:VALUE (repeatable).",
    ),
    "secret_header": option(
        list[str] | None,
        "--secret-header",
        help="Like -H, but its value is a credential: masked as *** in every output "
        "(repeatable). Headers named like credentials (Authorization, *-Key, *Token*, "
        "*Signature* ...) are masked even with -H.",
    ),
    "ca_bundle": option(
        Path | None, "--ca-bundle", help="PEM file of CAs to trust (a private CA)."
    ),
    "insecure": option(
        bool,
        "--insecure",
        help="Do not verify TLS certificates (prints a warning).",
        default=False,
    ),
    # What is sent ------------------------------------------------------------------------------
    "flow": option(str | None, "--flow", help="by-unico | by-client. Default: by-unico."),
    "payload_profile": option(
        str | None,
        "--payload-profile",
        help="by-Unico payload: minimal (processId, state, flow) or current (with result). "
        "Default: current.",
    ),
    "seed": option(int | None, "--seed", help="Makes ids and jitter reproducible."),
    "count": option(int | None, "--count", "-n", help="Processes to notify. Default: 100."),
    "statuses": option(
        str | None,
        "--statuses",
        help="Statuses to notify, comma-separated: by-client 2,3,4,5; by-unico "
        "ok,expired,invalid_identity. Default: all, in a realistic mix.",
    ),
    "duplicates": option(
        float | None,
        "--duplicates",
        help="Probability a notification is sent again later. Default: 0.",
    ),
    "reorder": option(
        float | None,
        "--reorder",
        help="Probability a process's earlier status (2) arrives after its later one (3). "
        "Default: 0.",
    ),
    "unknown_status": option(
        float | None,
        "--unknown-status",
        help="Probability of a status/state the contract does not list. Default: 0.",
    ),
    # The platform's delivery rules -------------------------------------------------------------
    "max_attempts": option(
        int | None, "--max-attempts", help="Attempts per notification. Default: 5."
    ),
    "interval": option(
        float | None,
        "--interval",
        help="Seconds before the first retry; doubles each retry, plus up to 20% jitter. "
        "Default: 1.",
    ),
    "max_interval": option(
        float | None, "--max-interval", help="Longest wait between attempts. Default: 60."
    ),
    "timeout": option(
        float | None, "--timeout", help="Seconds to wait for a response. Default: 10."
    ),
    "concurrency": option(
        int | None,
        "--concurrency",
        help="Most simultaneous sends, 1..500. Default: 100.",
    ),
    "max_rate": option(
        float | None,
        "--max-rate",
        help="Most request starts per second, evenly spaced. Default: unlimited.",
    ),
    "adaptive": option(
        bool | None,
        "--adaptive/--no-adaptive",
        help="Cut the in-flight limit when the receiver fails (AIMD). Default: on.",
    ),
    "throttle_window": option(
        float | None, "--throttle-window", help="Seconds per throttle window. Default: 1."
    ),
    "throttle_threshold": option(
        float | None,
        "--throttle-threshold",
        help="Failure rate that cuts the limit. Default: 0.2.",
    ),
    "throttle_decrease": option(
        float | None, "--throttle-decrease", help="Factor the limit is cut by. Default: 0.5."
    ),
    # Watching and stopping a run ---------------------------------------------------------------
    "report_json": option(Path | None, "--report-json", help="Write the JSON report to this file."),
    "grace": option(
        float,
        "--grace",
        help="Seconds in-flight requests may finish after Ctrl-C.",
        default=2.0,
    ),
    # Serving (platform, receiver) --------------------------------------------------------------
    "host": option(str, "--host", help="Address to listen on.", default="127.0.0.1"),
    "port": option(int, "--port", help="Port to listen on (0: any free).", default=8080),
    "max_connections": option(
        int | None,
        "--max-connections",
        help="Connections served at once; more are answered 503 and closed. Default: 1000, "
        "lowered to fit the open-file limit.",
    ),
    "read_timeout": option(
        float,
        "--read-timeout",
        help="Seconds a request head may take to arrive, and then its body.",
        default=10.0,
    ),
    "idle_timeout": option(
        float,
        "--idle-timeout",
        help="Seconds an idle keep-alive connection is kept.",
        default=75.0,
    ),
    "token_ttl": option(
        int, "--token-ttl", help="Lifetime of the tokens it issues, seconds.", default=3600
    ),
}

# Groups in the order `--help` lists them.
TARGET = ("url", "config")
AUTH = ("auth", "basic", "api_key", "token_url", "client_id", "client_secret", "scope",
        "client_auth")  # fmt: skip
PAYLOAD = ("flow", "payload_profile")
TRAFFIC = ("statuses", "duplicates", "reorder", "unknown_status")
RETRY = ("max_attempts", "interval", "max_interval", "timeout")
THROTTLE = ("concurrency", "max_rate", "adaptive", "throttle_window", "throttle_threshold",
            "throttle_decrease")  # fmt: skip
HTTP = ("header", "secret_header", "ca_bundle", "insecure")
LISTEN = ("host", "port", "max_connections", "read_timeout", "idle_timeout")
