"""The command line: a thin layer that turns flags into settings, calls the engine and hands
its result to a reporter. All validation happens in `dispatcher.settings`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import IO, Annotated, Any, TypeVar, cast

import typer
from rich.console import Console
from rich.table import Table

from . import __version__, credentials, outfiles, progress
from .checks.result import CheckResult
from .contract import STATE_FINISHED
from .engine import Engine, EngineOptions
from .errors import ConfigError
from .html import render as render_html
from .metrics import Metrics
from .payloads import PayloadFactory, notification
from .redact import REDACTOR, ScrubbingStream
from .report import (
    AttemptPrinter,
    PlatformReport,
    check_report,
    junit_xml,
    load_report,
    platform_report,
    print_load_summary,
    print_verdicts,
    read_load_report,
    run_report,
    scenario_section,
    summary_table,
    writable,
    write_json,
    write_text,
)
from .scenario import Expectation, judge, load_scenario, observe
from .settings import (
    FLAG_KEYS,
    Settings,
    TrafficSettings,
    build_settings,
    describe_validation_error,
    validate_flags,
)
from .signals import SIGNALS, until_signalled
from .traffic import TrafficPlan

T = TypeVar("T")

app = typer.Typer(
    name="webhook-sim",
    help="Plays the Unico IDCloud platform's side of the webhook contract against any receiver.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Options shared by every command that sends ----------------------------------------------------

Url = Annotated[str | None, typer.Option("--url", help="The receiver's notification URL.")]
ConfigPath = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML or YAML settings file; flags override it."),
]
AuthType = Annotated[
    str | None,
    typer.Option(
        "--auth",
        help="none | basic | api-key | oauth2. Default: inferred from the credentials given, "
        "else none.",
    ),
]
BasicOpt = Annotated[
    str | None,
    typer.Option(
        "--basic", help="USER:PASS for Basic auth (env WEBHOOK_SIM_BASIC).", show_default=False
    ),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        help="HEADER:VALUE, or VALUE alone (sent as 'Authorization: VALUE') "
        "(env WEBHOOK_SIM_API_KEY).",
    ),
]
TokenUrl = Annotated[str | None, typer.Option("--token-url", help="OAuth2 token endpoint.")]
ClientId = Annotated[str | None, typer.Option("--client-id", help="OAuth2 client id.")]
ClientSecret = Annotated[
    str | None,
    typer.Option("--client-secret", help="OAuth2 client secret (env WEBHOOK_SIM_CLIENT_SECRET)."),
]
Scope = Annotated[str | None, typer.Option("--scope", help="OAuth2 scope to request.")]
ClientAuth = Annotated[
    str | None,
    typer.Option("--client-auth", help="How the client authenticates to the token endpoint: "
                 "basic (client_secret_basic) or post (client_secret_post). Default: basic."),
]  # fmt: skip
FlowOpt = Annotated[
    str | None, typer.Option("--flow", help="by-unico | by-client. Default: by-unico.")
]
ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--payload-profile",
        help="by-Unico payload: minimal (processId, state, flow) or current (with result). "
        "Default: current.",
    ),
]
MaxAttempts = Annotated[
    int | None, typer.Option("--max-attempts", help="Attempts per notification. Default: 5.")
]
Interval = Annotated[
    float | None,
    typer.Option(
        "--interval",
        help="Seconds before the first retry; doubles each retry, plus up to 20% jitter. "
        "Default: 1.",
    ),
]
MaxInterval = Annotated[
    float | None, typer.Option("--max-interval", help="Longest wait between attempts. Default: 60.")
]
Timeout = Annotated[
    float | None, typer.Option("--timeout", help="Seconds to wait for a response. Default: 10.")
]
Seed = Annotated[int | None, typer.Option("--seed", help="Makes ids and jitter reproducible.")]
Header = Annotated[
    list[str] | None,
    typer.Option("--header", "-H", help="Extra request header NAME:VALUE (repeatable)."),
]
SecretHeader = Annotated[
    list[str] | None,
    typer.Option(
        "--secret-header",
        help="Like -H, but its value is a credential: masked as *** in every output "
        "(repeatable). Headers named like credentials (Authorization, *-Key, *Token*, "
        "*Signature* ...) are masked even with -H.",
    ),
]
CaBundle = Annotated[
    Path | None, typer.Option("--ca-bundle", help="PEM file of CAs to trust (a private CA).")
]
Insecure = Annotated[
    bool, typer.Option("--insecure", help="Do not verify TLS certificates (prints a warning).")
]


def _flags(params: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a command's flags set, picked by name from its parameters (`locals()`):
    typer hands each flag over as a parameter, and every command shares these names. Unset
    flags (None, or an unset --insecure) are left to the file."""
    flags = {key: params[name] for name, key in FLAG_KEYS.items() if params.get(name) is not None}
    if flags.get("insecure") is False:  # a plain switch: off means "not given"
        del flags["insecure"]
    return flags


_STDOUT_TAKEN: list[bool] = []  # a report goes to stdout: the console moves to stderr


def _check_outputs(**paths: Path | None) -> None:
    _STDOUT_TAKEN.clear()
    for name, path in paths.items():
        if path is not None:
            writable(path, "--" + name.replace("_", "-"))
            if outfiles.to_stdout(path):
                _STDOUT_TAKEN.append(True)


def _console(width: int | None = None) -> Console:
    """The console a command prints to: every secret masked on the way out."""
    stream = cast(IO[str], ScrubbingStream(sys.stderr if _STDOUT_TAKEN else sys.stdout))
    console = Console(highlight=False, soft_wrap=True, file=stream)
    if width and not console.is_terminal:
        # Logs and pipes have no width; rich would assume 80 and fold every table.
        console = Console(highlight=False, soft_wrap=True, width=width, file=stream)
    return console


def _warn_insecure(settings: Settings, console: Console) -> None:
    if settings.insecure:
        Console(stderr=True).print(
            "[yellow]warning: --insecure: TLS certificates are not verified[/yellow]"
        )


# send -------------------------------------------------------------------------------------------


@app.command()
def send(
    url: Url = None,
    config: ConfigPath = None,
    auth: AuthType = None,
    basic: BasicOpt = None,
    api_key: ApiKeyOpt = None,
    token_url: TokenUrl = None,
    client_id: ClientId = None,
    client_secret: ClientSecret = None,
    scope: Scope = None,
    client_auth: ClientAuth = None,
    flow: FlowOpt = None,
    payload_profile: ProfileOpt = None,
    status: Annotated[
        int,
        typer.Option(
            "--status",
            help="by-Client status to notify (2..5; others test tolerance of unknown statuses).",
        ),
    ] = 3,
    state: Annotated[str, typer.Option("--state", help="by-Unico state.")] = STATE_FINISHED,
    result: Annotated[
        str, typer.Option("--result", help="by-Unico result: ok | expired | invalid_identity.")
    ] = "ok",
    process_flow: Annotated[
        str | None,
        typer.Option("--process-flow", help="by-Unico journey (flow field). Default: random."),
    ] = None,
    process_id: Annotated[
        str | None, typer.Option("--process-id", help="Process UUID. Default: random.")
    ] = None,
    max_attempts: MaxAttempts = None,
    interval: Interval = None,
    max_interval: MaxInterval = None,
    timeout: Timeout = None,
    seed: Seed = None,
    header: Header = None,
    secret_header: SecretHeader = None,
    ca_bundle: CaBundle = None,
    insecure: Insecure = False,
) -> int:
    """Send one notification, with retries, and print every attempt.

    Exit 0 delivered, 1 not delivered, 2 bad input.
    """
    settings = build_settings(
        config=config,
        flags=_flags(locals()),
    )
    if process_id is not None:
        _check_uuid(process_id)
    from .settings import SendOptions

    validate_flags(SendOptions, {"result": result})
    factory = PayloadFactory(seed)
    if settings.flow == "by-client":
        payload = factory.by_client(process_id=process_id, status=status)
    else:
        payload = factory.by_unico(
            process_id=process_id,
            state=state,
            result=result,
            flow=process_flow,
            profile=settings.payload_profile,
        )
    console = _console()
    _warn_insecure(settings, console)
    console.print(
        f"POST {settings.url}  ({settings.flow}, auth {settings.auth.type})", markup=False
    )
    console.print(json.dumps(payload, indent=2), highlight=False, markup=False)
    printer = AttemptPrinter(console, settings)
    engine = Engine(settings, options=EngineOptions(seed=seed), observer=printer)
    _run_fast(_watched(engine, None, None, engine.run([notification(payload)])))
    if SIGNALS.first is not None:
        console.print(f"interrupted by {SIGNALS.first.name} after {printer.attempts} attempt(s)")
        return 128 + int(SIGNALS.first)
    if printer.final == "delivered":
        console.print(f"[green]delivered[/green] after {printer.attempts} attempt(s)")
        return 0
    console.print(f"[red]not delivered[/red] after {printer.attempts} attempt(s)")
    return 1


def _check_url(flag: str, value: str | None) -> None:
    """The same rules as --url (absolute http(s), no credentials, a valid host)."""
    if value is None:
        return
    from .settings import redact_url, validate_url

    try:
        validate_url(value)
    except ValueError as exc:
        raise ConfigError(f"{flag} = {redact_url(value)!r}: {exc}") from None


def _check_uuid(value: str) -> None:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        raise ConfigError(f"--process-id = {value!r}: must be a UUID") from None


# run ------------------------------------------------------------------------------------------

Concurrency = Annotated[
    int | None,
    typer.Option("--concurrency", help="Most simultaneous sends, 1..500. Default: 100."),
]
MaxRate = Annotated[
    float | None,
    typer.Option(
        "--max-rate", help="Most request starts per second, evenly spaced. Default: unlimited."
    ),
]
ReportJson = Annotated[
    Path | None, typer.Option("--report-json", help="Write the JSON report to this file.")
]


@app.command()
def run(
    scenario: Annotated[
        Path | None,
        typer.Argument(help="A scenario file (scenarios/*.yaml); flags override its settings."),
    ] = None,
    url: Url = None,
    config: ConfigPath = None,
    auth: AuthType = None,
    basic: BasicOpt = None,
    api_key: ApiKeyOpt = None,
    token_url: TokenUrl = None,
    client_id: ClientId = None,
    client_secret: ClientSecret = None,
    scope: Scope = None,
    client_auth: ClientAuth = None,
    flow: FlowOpt = None,
    payload_profile: ProfileOpt = None,
    count: Annotated[
        int | None, typer.Option("--count", "-n", help="Processes to notify. Default: 100.")
    ] = None,
    statuses: Annotated[
        str | None,
        typer.Option(
            "--statuses",
            help="Statuses to notify, comma-separated: by-client 2,3,4,5; by-unico "
            "ok,expired,invalid_identity. Default: all, in a realistic mix.",
        ),
    ] = None,
    duplicates: Annotated[
        float | None,
        typer.Option(
            "--duplicates", help="Probability a notification is sent again later. Default: 0."
        ),
    ] = None,
    reorder: Annotated[
        float | None,
        typer.Option(
            "--reorder",
            help="Probability a process's earlier status (2) arrives after its later one (3). "
            "Default: 0.",
        ),
    ] = None,
    unknown_status: Annotated[
        float | None,
        typer.Option(
            "--unknown-status",
            help="Probability of a status/state the contract does not list. Default: 0.",
        ),
    ] = None,
    concurrency: Concurrency = None,
    max_rate: MaxRate = None,
    adaptive: Annotated[
        bool | None,
        typer.Option(
            "--adaptive/--no-adaptive",
            help="Cut the in-flight limit when the receiver fails (AIMD). Default: on.",
        ),
    ] = None,
    throttle_window: Annotated[
        float | None,
        typer.Option("--throttle-window", help="Seconds per throttle window. Default: 1."),
    ] = None,
    throttle_threshold: Annotated[
        float | None,
        typer.Option(
            "--throttle-threshold", help="Failure rate that cuts the limit. Default: 0.2."
        ),
    ] = None,
    throttle_decrease: Annotated[
        float | None,
        typer.Option("--throttle-decrease", help="Factor the limit is cut by. Default: 0.5."),
    ] = None,
    max_attempts: MaxAttempts = None,
    interval: Interval = None,
    max_interval: MaxInterval = None,
    timeout: Timeout = None,
    seed: Seed = None,
    header: Header = None,
    secret_header: SecretHeader = None,
    ca_bundle: CaBundle = None,
    insecure: Insecure = False,
    report_json: ReportJson = None,
    junit: Annotated[
        Path | None,
        typer.Option("--junit", help="With a scenario: JUnit XML, one testcase per expectation."),
    ] = None,
    grace: Annotated[
        float,
        typer.Option("--grace", help="Seconds in-flight requests may finish after Ctrl-C."),
    ] = 2.0,
    progress_every: Annotated[
        float | None,
        typer.Option(
            "--progress-every",
            help="Seconds between progress lines when not on a terminal. Default: 5.",
        ),
    ] = None,
) -> int:
    """Notify many processes at the platform's settings: cap, retries, adaptive throttling.

    Exit 0 every notification delivered (with a scenario: every expectation met), 1 otherwise,
    2 bad input, 130/143 interrupted.
    """
    _check_outputs(report_json=report_json, junit=junit)
    if junit is not None and scenario is None:
        raise ConfigError(
            "--junit goes with a scenario file: webhook-sim run SCENARIO --junit PATH"
        )
    plan_file = load_scenario(scenario) if scenario is not None else None
    settings = build_settings(
        config=config,
        scenario=(str(scenario), plan_file.settings_layer()) if plan_file else None,
        flags=_flags(locals()),
    )
    # The scenario's traffic, overridden by any traffic flag given.
    given = {"count": count, "duplicates": duplicates, "reorder": reorder,
             "unknown": unknown_status, "seed": seed}  # fmt: skip
    base = plan_file.traffic.model_dump(include=set(given)) if plan_file else {}
    traffic = validate_flags(
        TrafficSettings, {**base, **{k: v for k, v in given.items() if v is not None}}
    )
    from .settings import RunOptions

    run_options = validate_flags(RunOptions, {"grace_s": grace, "progress_every_s": progress_every})
    plan = TrafficPlan.of(settings, traffic, traffic.count)
    console = _console(width=120)
    _warn_insecure(settings, console)
    engine = Engine(settings, options=EngineOptions(grace_s=run_options.grace_s, seed=traffic.seed))
    interrupted = _run_fast(
        _watched(engine, console, run_options.progress_every_s, engine.run(plan))
    )
    verdicts: list[CheckResult] = []
    if plan_file is not None:
        verdicts = asyncio.run(judge(plan_file, engine.metrics, settings))
    report = run_report(
        engine.metrics,
        settings,
        traffic=traffic,
        interrupted=interrupted.name if interrupted else None,
        scenario=scenario_section(plan_file.name, str(scenario), verdicts) if plan_file else None,
    )
    console.print(summary_table(report))
    if plan_file is not None:
        console.print(f"scenario {plan_file.name}: {plan_file.description}", markup=False)
        print_verdicts(console, verdicts)
        if junit is not None:
            suite = f"webhook-sim scenario {plan_file.name}"
            write_text(junit, junit_xml(suite, verdicts, duration_s=engine.metrics.duration_s))
    if report_json is not None:
        write_json(report_json, report)
        console.print(f"report written to {report_json}")
    if interrupted is not None:
        return 128 + int(interrupted)
    if plan_file is not None:
        return 0 if all(v.status == "passed" for v in verdicts) else 1
    n = report.notifications
    return 0 if n.delivered == n.scheduled else 1


async def _watched(
    engine: Engine,
    console: Console | None,
    progress_every: float | None,
    work: Coroutine[Any, Any, Metrics],
) -> signal.Signals | None:
    """Run with live progress (unless `console` is None); the first SIGINT/SIGTERM stops
    cleanly, with the engine's grace for what is in flight, a second one at once."""

    def graceful() -> None:
        engine.stop()
        name = SIGNALS.first.name if SIGNALS.first else "signal"
        Console(stderr=True).print(
            f"{name}: stopping; in-flight requests get {engine.options.grace_s:g} s "
            "(again to stop now)"
        )

    async with asyncio.TaskGroup() as tg:
        watcher = (
            tg.create_task(progress.watch(engine, console, every_s=progress_every))
            if console is not None
            else None
        )
        try:
            await until_signalled(work, graceful=graceful, now=lambda: engine.stop(now=True))
        finally:
            if watcher is not None:
                watcher.cancel()
    return SIGNALS.first


# check ----------------------------------------------------------------------------------------


@app.command()
def check(
    url: Url = None,
    config: ConfigPath = None,
    auth: AuthType = None,
    basic: BasicOpt = None,
    api_key: ApiKeyOpt = None,
    token_url: TokenUrl = None,
    client_id: ClientId = None,
    client_secret: ClientSecret = None,
    scope: Scope = None,
    client_auth: ClientAuth = None,
    flow: FlowOpt = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="The platform's timeout: p99 latency must stay below it. Default: 10.",
        ),
    ] = None,
    header: Header = None,
    secret_header: SecretHeader = None,
    ca_bundle: CaBundle = None,
    insecure: Insecure = False,
    seed: Seed = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write a JUnit XML report to this file.")
    ] = None,
    report_json: ReportJson = None,
    list_checks: Annotated[
        bool, typer.Option("--list", help="List the checks, one line each, and exit.")
    ] = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only this check (repeatable).")
    ] = None,
    verify_url: Annotated[
        str | None,
        typer.Option(
            "--verify-url",
            help="The receiver's own view of a process, {id} replaced: enables no-regression.",
        ),
    ] = None,
    verify_field: Annotated[
        str, typer.Option("--verify-field", help="Dotted path of the status in that view.")
    ] = "status",
    batch: Annotated[
        int, typer.Option("--batch", help="Notifications in the latency batch.")
    ] = 100,
    burst: Annotated[
        int, typer.Option("--burst", help="Simultaneous sends in the burst check (1..500).")
    ] = 500,
    burst_max_failure: Annotated[
        float,
        typer.Option("--burst-max-failure", help="Failure rate the burst may reach (0..1)."),
    ] = 0.01,
    platform_url: Annotated[
        str | None,
        typer.Option(
            "--platform",
            help="URL of a running 'webhook-sim platform' your app uses: enables fallback-polling.",
        ),
    ] = None,
    fallback_within: Annotated[
        float,
        typer.Option(
            "--fallback-within", help="Seconds after a process finishes by which it must be polled."
        ),
    ] = 30.0,
    fallback_create_url: Annotated[
        str | None,
        typer.Option(
            "--fallback-create-url",
            help="Your app's endpoint that starts a verification (POSTed --fallback-count times).",
        ),
    ] = None,
    fallback_count: Annotated[
        int, typer.Option("--fallback-count", help="Verifications to start during the outage.")
    ] = 3,
    fallback_window: Annotated[
        float,
        typer.Option(
            "--fallback-window", help="Seconds the outage lasts at most while processes finish."
        ),
    ] = 10.0,
) -> int:
    """Run the conformance suite against a receiver: a pass/fail verdict for CI.

    Exit 0 every check passed (or was skipped), 1 any failed, 2 bad input.
    """
    from .checks.suite import CHECKS, CheckContext, not_run, run_checks

    _check_outputs(report_json=report_json, junit=junit)
    console = _console(width=120)
    if list_checks:
        width = max(len(c.name) for c in CHECKS)
        for c in CHECKS:
            console.print(f"{c.name:<{width}}  {c.description}", markup=False)
        return 0
    names = [c.name for c in CHECKS]
    for name in only or ():
        if name not in names:
            raise ConfigError(f"--only = {name!r}: no such check (allowed: {', '.join(names)})")
    if not 1 <= burst <= 500:
        raise ConfigError(f"--burst = {burst}: must be between 1 and 500")
    if not 1 <= batch <= 100_000:
        raise ConfigError(f"--batch = {batch}: must be between 1 and 100000")
    if not 0 <= burst_max_failure <= 1:
        raise ConfigError(f"--burst-max-failure = {burst_max_failure}: must be between 0 and 1")
    for name, value in (
        ("--fallback-within", fallback_within),
        ("--fallback-window", fallback_window),
    ):
        if not 0 < value <= 3600:
            raise ConfigError(f"{name} = {value}: must be more than 0 seconds, at most 3600")
    if not 1 <= fallback_count <= 1000:
        raise ConfigError(f"--fallback-count = {fallback_count}: must be between 1 and 1000")
    for url_flag, url_value in (
        ("--platform", platform_url),
        ("--fallback-create-url", fallback_create_url),
        ("--verify-url", verify_url.replace("{id}", "id") if verify_url else None),
    ):
        _check_url(url_flag, url_value)
    if verify_url is not None and "{id}" not in verify_url:
        raise ConfigError(f"--verify-url = {verify_url!r}: must contain {{id}}")
    settings = build_settings(
        config=config,
        flags=_flags(locals()),
    )
    _warn_insecure(settings, console)
    ctx = CheckContext(
        settings,
        seed=seed,
        batch=batch,
        burst=burst,
        burst_max_failure=burst_max_failure,
        verify_url=verify_url,
        verify_field=verify_field,
        platform_url=platform_url,
        fallback_within_s=fallback_within,
        fallback_create_url=fallback_create_url,
        fallback_count=fallback_count,
        fallback_window_s=fallback_window,
    )
    console.print(
        f"checking {settings.url} ({settings.flow}, auth {settings.auth.type})", markup=False
    )
    started = time.perf_counter()
    results: list[CheckResult] = []
    _run_fast(until_signalled(run_checks(ctx, only or (), into=results)))
    interrupted = SIGNALS.first
    duration = time.perf_counter() - started
    if interrupted is not None:
        results += not_run(only or (), results, f"interrupted by {interrupted.name}")
    print_verdicts(console, results)
    if junit is not None:
        write_text(junit, junit_xml("webhook-sim check", results, duration_s=duration))
    if report_json is not None:
        write_json(
            report_json,
            check_report(
                results,
                settings,
                duration_s=duration,
                interrupted=interrupted.name if interrupted else None,
            ),
        )
    if interrupted is not None:
        return 128 + int(interrupted)
    return 1 if any(r.status == "failed" for r in results) else 0


# load -----------------------------------------------------------------------------------------


@app.command()
def load(
    url: Url = None,
    config: ConfigPath = None,
    auth: AuthType = None,
    basic: BasicOpt = None,
    api_key: ApiKeyOpt = None,
    token_url: TokenUrl = None,
    client_id: ClientId = None,
    client_secret: ClientSecret = None,
    scope: Scope = None,
    client_auth: ClientAuth = None,
    flow: FlowOpt = None,
    payload_profile: ProfileOpt = None,
    rate: Annotated[
        str | None,
        typer.Option(
            "--rate",
            help="Arrivals per second (open model), or 'max' for a closed model at the cap.",
        ),
    ] = None,
    duration: Annotated[
        str, typer.Option("--duration", "-d", help="How long: 10, 10s, 2m, 1h.")
    ] = "10s",
    ramp: Annotated[
        str | None,
        typer.Option(
            "--ramp", help="A rate profile TIME:RATE,... e.g. 0:50,30s:2000,60s:2000 (no --rate)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", help="Sender processes. Default: one per core."),
    ] = None,
    concurrency: Concurrency = None,
    adaptive: Annotated[
        bool | None,
        typer.Option("--adaptive/--no-adaptive", help="AIMD throttle on the limit. Default: on."),
    ] = None,
    statuses: Annotated[
        str | None, typer.Option("--statuses", help="Statuses to notify, as in run.")
    ] = None,
    duplicates: Annotated[float, typer.Option("--duplicates", help="As in run.")] = 0.0,
    reorder: Annotated[float, typer.Option("--reorder", help="As in run.")] = 0.0,
    unknown_status: Annotated[float, typer.Option("--unknown-status", help="As in run.")] = 0.0,
    max_attempts: MaxAttempts = None,
    interval: Interval = None,
    max_interval: MaxInterval = None,
    timeout: Timeout = None,
    seed: Seed = None,
    header: Header = None,
    secret_header: SecretHeader = None,
    ca_bundle: CaBundle = None,
    insecure: Insecure = False,
    report_json: ReportJson = None,
    report_html: Annotated[
        Path | None,
        typer.Option("--report-html", help="Write a self-contained HTML report with charts."),
    ] = None,
    expect: Annotated[
        list[str] | None,
        typer.Option(
            "--expect",
            help="Threshold METRIC OP VALUE, e.g. 'response_p99_ms<300' (repeatable): any "
            "unmet threshold exits 1.",
        ),
    ] = None,
    grace: Annotated[
        float, typer.Option("--grace", help="Seconds in-flight requests may finish after Ctrl-C.")
    ] = 2.0,
    graceful_stop: Annotated[
        str,
        typer.Option(
            "--graceful-stop",
            help="After --duration, how long in-flight attempts and retries may go on before "
            "they are cancelled (as k6's gracefulStop).",
        ),
    ] = "10s",
    http_client: Annotated[
        str,
        typer.Option(
            "--http-client",
            help="lean (httptools on asyncio protocols: 2.4x the deliveries/s of aiohttp in one "
            "worker, see docs/benchmarks.md) or aiohttp.",
        ),
    ] = "lean",
) -> int:
    """Load-test a receiver: arrivals at a rate, latency corrected for coordinated omission.

    Exit 0 done (and every --expect met), 1 a threshold failed (or, with no --expect, nothing
    was delivered), 2 bad input, 130/143 interrupted.
    """
    from .arrivals import RateProfile, parse_duration
    from .load import LoadPlan, run_share, run_workers

    _check_outputs(report_json=report_json, report_html=report_html)
    settings = build_settings(
        config=config,
        flags=_flags(locals()),
    )
    traffic = validate_flags(
        TrafficSettings,
        {"duplicates": duplicates, "reorder": reorder, "unknown": unknown_status, "seed": seed},
    )
    thresholds = [_threshold(text) for text in expect or ()]
    if ramp is not None and rate is not None:
        raise ConfigError("--ramp and --rate do not go together: a ramp sets its own rates")
    profile: RateProfile | None
    if ramp is not None:
        profile = RateProfile.parse_ramp(ramp)
        seconds = profile.duration_s
    else:
        seconds = parse_duration(duration)
        if seconds <= 0:
            raise ConfigError(f"--duration = {duration!r}: must be more than 0")
        if rate is None:
            raise ConfigError("--rate is required: arrivals per second, or max (or give --ramp)")
        if rate == "max":
            profile = None
        else:
            try:
                per_second = float(rate)
            except ValueError:
                raise ConfigError(
                    f"--rate = {rate!r}: a number of arrivals per second, or max"
                ) from None
            if not 0 < per_second <= 1_000_000:
                raise ConfigError(f"--rate = {rate!r}: must be more than 0, at most 1000000")
            profile = RateProfile.constant(per_second, seconds)
    # By default one worker per core, but never more workers than slots to share among them.
    count = workers if workers is not None else min(os.cpu_count() or 1, settings.concurrency)
    if not 1 <= count <= 64:
        raise ConfigError(f"--workers = {count}: must be between 1 and 64")
    if count > settings.concurrency:
        raise ConfigError(
            f"--workers = {count}: more workers than --concurrency {settings.concurrency}"
        )
    from .settings import RunOptions

    grace = validate_flags(RunOptions, {"grace_s": grace}).grace_s
    plan = LoadPlan(
        profile, seconds, traffic, count, parse_duration(graceful_stop, flag="--graceful-stop")
    )
    console = _console(width=120)
    _warn_insecure(settings, console)
    what = f"{plan.target_per_s:g}/s" if plan.target_per_s else "max (closed model)"
    console.print(
        f"load {settings.url}: {what} for {seconds:g} s, cap {settings.concurrency}, "
        f"{count} worker{'s' if count > 1 else ''}",
        markup=False,
    )
    if http_client not in ("lean", "aiohttp"):
        raise ConfigError(f"--http-client = {http_client!r}: allowed: lean, aiohttp")
    options = EngineOptions(
        grace_s=grace, seed=seed, http_client="lean" if http_client == "lean" else "aiohttp"
    )
    if count == 1:
        engine = Engine(settings, options=options)
        interrupted = _run_fast(
            _watched(engine, console, None, run_share(engine, settings, plan, 0))
        )
        metrics, failed = engine.metrics, tuple[str, ...]()
    else:
        outcome = run_workers(settings, plan, options)
        metrics, failed, interrupted = outcome.metrics, outcome.failed, SIGNALS.first
    for line in failed:
        Console(stderr=True).print(f"[red]{line}[/red]; the report has the others' results")
    verdicts = [t.judge(observe(t.metric, metrics)) for t in thresholds]
    report = load_report(
        metrics,
        settings,
        plan,
        interrupted=interrupted.name if interrupted else None,
        workers_failed=failed,
        thresholds=verdicts,
    )
    print_load_summary(console, report)
    if verdicts:
        print_verdicts(console, verdicts)
    if report_json is not None:
        write_json(report_json, report)
        console.print(f"report written to {report_json}")
    if report_html is not None:
        write_text(report_html, render_html(report))
        console.print(f"HTML report written to {report_html}")
    if interrupted is not None:
        return 128 + int(interrupted)
    if failed:
        return 1
    if verdicts:
        return 1 if any(v.status == "failed" for v in verdicts) else 0
    n = report.notifications
    if n.delivered == 0:
        console.print(
            f"[red]nothing was delivered[/red]: 0 of {n.scheduled} notifications "
            "(exit 1; give --expect thresholds to decide otherwise)"
        )
        return 1
    return 0


def _threshold(text: str) -> Expectation:
    try:
        return Expectation.parse(text)
    except ValueError as exc:
        raise ConfigError(f"--expect = {text!r}: {exc}") from None


def _run_fast(coro: Coroutine[Any, Any, T]) -> T:
    from .load import new_loop

    with asyncio.Runner(loop_factory=new_loop) as runner:
        return runner.run(coro)


@app.command()
def report(
    source: Annotated[Path, typer.Argument(help="A JSON report saved by load --report-json.")],
    html_out: Annotated[Path, typer.Option("--html", help="Where to write the HTML report.")],
) -> int:
    """Render a saved JSON load report as a self-contained HTML page."""
    _check_outputs(html=html_out)
    page = render_html(read_load_report(source))
    write_text(html_out, page)
    _console().print(f"HTML report written to {html_out}")
    return 0


# platform -------------------------------------------------------------------------------------


@app.command()
def platform(
    webhook_url: Annotated[
        str | None,
        typer.Option("--webhook-url", help="Where the platform sends notifications (your app)."),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free).")] = 8000,
    config: ConfigPath = None,
    auth: AuthType = None,
    basic: BasicOpt = None,
    api_key: ApiKeyOpt = None,
    token_url: TokenUrl = None,
    client_id: ClientId = None,
    client_secret: ClientSecret = None,
    scope: Scope = None,
    client_auth: ClientAuth = None,
    max_attempts: MaxAttempts = None,
    interval: Interval = None,
    max_interval: MaxInterval = None,
    timeout: Timeout = None,
    concurrency: Concurrency = None,
    header: Header = None,
    secret_header: SecretHeader = None,
    ca_bundle: CaBundle = None,
    insecure: Insecure = False,
    finish_after: Annotated[
        str,
        typer.Option("--finish-after", help="When a process finishes: 2s, or a range 1s..5s."),
    ] = "2s",
    outage: Annotated[
        list[str] | None,
        typer.Option(
            "--outage", help="START+DURATION of a webhook outage, e.g. 30s+60s (repeatable)."
        ),
    ] = None,
    outage_mode: Annotated[
        str,
        typer.Option("--outage-mode", help="drop: never sent; delay: sent when the outage ends."),
    ] = "drop",
    token_ttl: Annotated[
        int, typer.Option("--token-ttl", help="Lifetime of API tokens, seconds.")
    ] = 3600,
    audience: Annotated[
        str | None,
        typer.Option("--audience", help="The aud the JWT assertion must carry. Default: any."),
    ] = None,
    apikey: Annotated[
        str | None,
        typer.Option("--apikey", help="The APIKEY by-Client calls must send. Default: any."),
    ] = None,
    unico_mix: Annotated[
        str | None,
        typer.Option(
            "--unico-mix",
            help="How by-Unico processes end, NAME=WEIGHT. Default: "
            "ok=70,expired=18,invalid_identity=12.",
        ),
    ] = None,
    client_mix: Annotated[
        str | None,
        typer.Option(
            "--client-mix",
            help="How by-Client processes end, PATH=WEIGHT. Default: 3=60,2-3=15,4=13,5=12.",
        ),
    ] = None,
    duplicates: Annotated[
        float, typer.Option("--duplicates", help="Probability a notification is sent twice.")
    ] = 0.0,
    reorder: Annotated[
        float,
        typer.Option("--reorder", help="Probability a by-Client 2 goes out after its 3."),
    ] = 0.0,
    seed: Seed = None,
    report_json: ReportJson = None,
    service_account_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--service-account-key",
            help="Public key (PEM, or a JWKS file) the JWT assertion's RS256 signature must "
            "verify with (repeatable). Default: signatures not verified.",
        ),
    ] = None,
    max_connections: Annotated[
        int | None,
        typer.Option(
            "--max-connections",
            help="API connections served at once; more are answered 503 and closed. Default: "
            "1000, lowered to fit the open-file limit beside --concurrency.",
        ),
    ] = None,
    read_timeout: Annotated[
        float,
        typer.Option(
            "--read-timeout", help="Seconds a request head may take to arrive, and then its body."
        ),
    ] = 10.0,
    idle_timeout: Annotated[
        float,
        typer.Option("--idle-timeout", help="Seconds an idle keep-alive connection is kept."),
    ] = 75.0,
) -> int:
    """Mock the platform's API: token, CreateProcess, GetProcess; finish processes, notify
    them, and stop notifying during outages so the polling fallback gets tested."""
    from pydantic import ValidationError

    from .arrivals import parse_duration
    from .platform.api import PlatformConfig
    from .platform.keys import load_keys
    from .platform.world import Mix
    from .receiver.quietlog import one_line_logger, quietly
    from .receiver.serving import check_port

    check_port(port)
    load_keys(service_account_key or ())  # a bad key file stops here, before anything starts
    _check_outputs(report_json=report_json)
    settings = build_settings(
        config=config,
        flags=_flags(locals()),
    )
    low, sep, high = finish_after.partition("..")
    finish = (
        parse_duration(low, flag="--finish-after"),
        parse_duration(high if sep else low, flag="--finish-after"),
    )
    if finish[1] < finish[0]:
        raise ConfigError(f"--finish-after = {finish_after!r}: the range must not go backwards")
    outages = []
    for spec in outage or ():
        start, plus, length = spec.partition("+")
        if not plus:
            raise ConfigError(f"--outage = {spec!r}: START+DURATION, e.g. 30s+60s")
        outages.append(
            (parse_duration(start, flag="--outage"), parse_duration(length, flag="--outage"))
        )
    try:
        platform_config = PlatformConfig.model_validate(
            {
                "token_ttl_s": token_ttl,
                "audience": audience,
                "apikey": apikey,
                "finish_after": finish,
                "outages": tuple(outages),
                "outage_mode": outage_mode,
                "seed": seed,
                "duplicates": duplicates,
                "reorder": reorder,
                "unico_mix": Mix.parse_unico(unico_mix) if unico_mix else None,
                "client_mix": Mix.parse_client(client_mix) if client_mix else None,
                "service_account_keys": tuple(service_account_key or ()),
                "max_connections": max_connections,
                "read_timeout_s": read_timeout,
                "idle_timeout_s": idle_timeout,
            }
        )
    except ValidationError as exc:
        raise ConfigError(
            describe_validation_error(exc, "platform", model=PlatformConfig)
        ) from None
    console = _console(width=120)
    _warn_insecure(settings, console)
    # One line per token answer (saying whether the signature was verified), and warnings.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    serving = _serve_platform(settings, platform_config, host, port, console)
    report = _run_fast(quietly(serving, one_line_logger("webhook_sim.platform")))
    if report_json is not None:
        write_json(report_json, report)
        console.print(f"report written to {report_json}")
    summary = report.platform.summary
    console.print(
        f"{summary.processes} processes, {summary.finished} finished; "
        f"{summary.webhook_missed} missed a webhook, {summary.missed_and_polled} of "
        "those were polled"
    )
    return SIGNALS.exit_code() or 0


async def _serve_platform(
    settings: Settings, config: Any, host: str, port: int, console: Console
) -> PlatformReport:
    from .platform.api import start_platform

    running = await start_platform(settings, config, host=host, port=port)
    console.print(
        f"platform listening on {running.url} (token: POST {running.url}/oauth2/token); "
        f"webhooks to {settings.url}; Ctrl-C to stop"
    )
    stop = asyncio.Event()

    def graceful() -> None:
        stop.set()
        name = SIGNALS.first.name if SIGNALS.first else "signal"
        Console(stderr=True).print(
            f"{name}: stopping; queued notifications get up to 5 s (again to stop now)"
        )

    def now() -> None:
        stop.set()
        running.platform.engine.stop(now=True)

    with SIGNALS.listening(graceful, now):
        await stop.wait()
        await running.close()
    metrics = running.platform.engine.metrics
    first = SIGNALS.first
    return platform_report(
        metrics, settings, running.platform.report(), interrupted=first.name if first else None
    )


# receiver ---------------------------------------------------------------------------------------


@app.command()
def receiver(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free).")] = 8080,
    auth: Annotated[
        str | None,
        typer.Option(
            "--auth",
            help="Auth to expect: none | basic | api-key | oauth2. Default: inferred from the "
            "one kind of credential given, else none.",
        ),
    ] = None,
    basic: BasicOpt = None,
    api_key: ApiKeyOpt = None,
    client_id: ClientId = None,
    client_secret: ClientSecret = None,
    token_ttl: Annotated[
        int, typer.Option("--token-ttl", help="Lifetime of issued OAuth2 tokens, seconds.")
    ] = 3600,
    fail_rate: Annotated[
        float, typer.Option("--fail-rate", help="Probability of answering 500 (0..1).")
    ] = 0.0,
    fail_first: Annotated[
        int,
        typer.Option(
            "--fail-first", help="Answer 500 to the first N deliveries of each notification."
        ),
    ] = 0,
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", help="Delay before answering, milliseconds.")
    ] = 0.0,
    status: Annotated[
        int | None, typer.Option("--status", help="Answer every valid notification with CODE.")
    ] = None,
    seed: Seed = None,
    flaw: Annotated[
        list[str] | None,
        typer.Option(
            "--flaw",
            help="Misbehave on purpose (repeatable): any-credentials, duplicate-409, "
            "duplicate-500, unknown-500, extra-field-500, regress, slow.",
        ),
    ] = None,
    slow_ms: Annotated[
        float, typer.Option("--slow-ms", help="How slow the 'slow' flaw answers, milliseconds.")
    ] = 2000.0,
    max_connections: Annotated[
        int | None,
        typer.Option(
            "--max-connections",
            help="Connections served at once; more are answered 503 and closed. Default: 1000, "
            "lowered to fit the open-file limit.",
        ),
    ] = None,
    read_timeout: Annotated[
        float,
        typer.Option(
            "--read-timeout",
            help="Seconds a request head may take to arrive, and then its body.",
        ),
    ] = 10.0,
    idle_timeout: Annotated[
        float,
        typer.Option("--idle-timeout", help="Seconds an idle keep-alive connection is kept."),
    ] = 75.0,
    dedup_exact_keys: Annotated[
        int,
        typer.Option(
            "--dedup-exact-keys",
            help="Notifications remembered exactly for duplicate counting; beyond, a Bloom "
            "filter (0.1% false duplicates at most).",
        ),
    ] = 1_000_000,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-request log lines.")] = False,
) -> int:
    """Run the sandbox receiver: checks auth and payloads, counts duplicates, injects faults.

    OAuth2: it is also the token provider, at POST /oauth/token. Counters: GET /_stats.
    """
    import os

    from pydantic import ValidationError

    from .receiver import ReceiverConfig
    from .receiver.app import infer_auth, serve_forever
    from .receiver.serving import check_port

    check_port(port)
    auth = infer_auth(
        auth,
        basic=basic,
        api_key=api_key,
        client_id=client_id,
        client_secret=client_secret,
        env=os.environ,
    )
    try:
        config = ReceiverConfig.model_validate(
            {
                "auth": auth,
                "basic": basic or os.environ.get("WEBHOOK_SIM_BASIC"),
                "api_key": api_key or os.environ.get("WEBHOOK_SIM_API_KEY"),
                "client_id": client_id,
                "client_secret": client_secret or os.environ.get("WEBHOOK_SIM_CLIENT_SECRET"),
                "token_ttl_s": token_ttl,
                "fail_rate": fail_rate,
                "fail_first": fail_first,
                "latency_ms": latency_ms,
                "status": status,
                "seed": seed,
                "flaws": tuple(flaw or ()),
                "slow_ms": slow_ms,
                "max_connections": max_connections,
                "read_timeout_s": read_timeout,
                "idle_timeout_s": idle_timeout,
                "dedup_exact_keys": dedup_exact_keys,
            }
        )
    except ValidationError as exc:
        raise ConfigError(
            describe_validation_error(exc, "receiver", model=ReceiverConfig)
        ) from None
    if not quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    asyncio.run(until_signalled(serve_forever(config, host, port)))
    return SIGNALS.exit_code() or 0


# demo -------------------------------------------------------------------------------------------


@app.command()
def demo(
    seed: Annotated[int, typer.Option("--seed", help="Seed for the demo's process ids.")] = 7,
) -> int:
    """Show the whole contract working on loopback against built-in sandbox receivers."""
    from .demo import run_demo

    console = _console(width=150)
    console.print("webhook-sim demo: every auth type, both flows, a retry and a duplicate,")
    console.print("against sandbox receivers on 127.0.0.1\n")
    done = _run_fast(until_signalled(run_demo(seed)))
    if done is None:
        return SIGNALS.exit_code() or 130
    results, stats = done
    table = Table(title="notifications", title_justify="left")
    for column in ("#", "case", "flow", "auth", "payload sent", "attempts", "outcome", "ok"):
        table.add_column(column, overflow="fold")
    for number, row in enumerate(results, 1):
        payload = json.dumps(row.payload, separators=(",", ":"))
        table.add_row(
            str(number),
            row.case.title,
            row.flow,
            row.auth,
            payload,
            "\n".join(row.attempts),
            row.outcome,
            "[green]✓[/green]" if row.as_expected else "[red]✗ expected " + row.case.expected,
        )
    console.print(table)
    receivers = Table(
        title="what the sandbox receivers counted (GET /_stats)", title_justify="left"
    )
    columns = ("received", "accepted", "rejected_auth", "duplicates", "injected_failures",
               "token_requests")  # fmt: skip
    receivers.add_column("receiver")
    for column in columns:
        receivers.add_column(column, justify="right")
    for name, counts in stats.items():
        receivers.add_row(name, *(str(counts[c]) for c in columns))
    console.print(receivers)
    failed = [r for r in results if not r.as_expected]
    if failed:
        console.print(f"[red]{len(failed)} case(s) did not end as expected[/red]")
        return 1
    console.print("[green]all cases ended as expected[/green]")
    return 0


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"webhook-sim {__version__}")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"webhook-sim {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Plays the Unico IDCloud platform's side of the webhook contract against any receiver."""


# entry point ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Console script: typer's command, but bad input is one line on stderr and exit 2.

    Signals are taken over for the whole call (see `dispatcher.signals`): a Ctrl-C never
    raises, it stops the work and the report is still written.
    """
    if SIGNALS.active:
        return _main(argv)
    with SIGNALS.installed():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    _STDOUT_TAKEN.clear()
    command = typer.main.get_command(app)
    if argv is None:
        argv = sys.argv[1:]
    # Known before any parsing, so that even a message about a bad value cannot show one.
    REDACTOR.clear()  # one command's secrets (tests call main() many times in one process)
    REDACTOR.add_all(_secrets_given(argv))
    if not argv:
        argv = ["--help"]  # as git does: no command is a request for help, not an error
    try:
        code = command.main(args=argv, prog_name="webhook-sim", standalone_mode=False)
    except ConfigError as exc:
        print(f"webhook-sim: error: {REDACTOR.scrub(str(exc))}", file=sys.stderr)
        return 2
    except typer.TyperException as exc:
        print(f"webhook-sim: error: {REDACTOR.scrub(exc.format_message())}", file=sys.stderr)
        return exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        return SIGNALS.exit_code() or 130
    return code if isinstance(code, int) else 0


_SECRET_FLAGS = ("--basic", "--api-key", "--client-secret", "--secret-header")


def _secrets_given(argv: list[str]) -> list[str]:
    """Every credential on the command line or in the environment, parsed or not."""
    found = [v for k, v in os.environ.items() if k.startswith("WEBHOOK_SIM_") and v]
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name in _SECRET_FLAGS:
            value = value if eq else (argv[i + 1] if i + 1 < len(argv) else "")
            found += [value, value.partition(":")[2].strip()]
    for value in list(found):
        _, sep, password = value.partition(":")
        if sep and password:
            found.append(credentials.basic_header(value).removeprefix("Basic "))
    return found


if __name__ == "__main__":
    from .__main__ import console_main

    console_main()


def run_main() -> None:
    """The console script's old entry point; `dispatcher.__main__` is the one installed."""
    from .__main__ import console_main

    console_main()
