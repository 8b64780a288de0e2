"""`webhook-sim platform` and `webhook-sim receiver`: the two servers, running until stopped."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..signals import SIGNALS, until_signalled
from .app import app
from .declare import Flags, command
from .options import AUTH, HTTP, LISTEN, OPTIONS, RETRY, option
from .output import Outputs, run_fast, warn, warn_insecure

PLATFORM = (
    ("webhook_url", option(str | None, "--webhook-url",
                           help="Where the platform sends notifications (your app).")),
    "host", ("port", OPTIONS["port"].but(default=8000)), "config", *AUTH, *RETRY, "concurrency",
    *HTTP,
    ("finish_after", option(str, "--finish-after", default="2s",
                            help="When a process finishes: 2s, or a range 1s..5s.")),
    ("outage", option(list[str] | None, "--outage", help="START+DURATION of a webhook outage, "
                      "e.g. 30s+60s (repeatable).")),
    ("outage_mode", option(str, "--outage-mode", default="drop",
                           help="drop: never sent; delay: sent when the outage ends.")),
    ("token_ttl", OPTIONS["token_ttl"].but(help="Lifetime of API tokens, seconds.")),
    ("audience", option(str | None, "--audience",
                        help="The aud the JWT assertion must carry. Default: any.")),
    ("apikey", option(str | None, "--apikey",
                      help="The APIKEY by-Client calls must send. Default: any.")),
    ("unico_mix", option(str | None, "--unico-mix", help="How by-Unico processes end, "
                         "NAME=WEIGHT. Default: ok=70,expired=18,invalid_identity=12.")),
    ("client_mix", option(str | None, "--client-mix", help="How by-Client processes end, "
                          "PATH=WEIGHT. Default: 3=60,2-3=15,4=13,5=12.")),
    ("duplicates", OPTIONS["duplicates"].but(
        help="Probability a notification is sent twice. Default: 0.")),
    ("reorder", OPTIONS["reorder"].but(
        help="Probability a by-Client 2 goes out after its 3. Default: 0.")),
    "seed", "report_json",
    ("service_account_key", option(list[Path] | None, "--service-account-key", help="Public "
                                   "key (PEM, or a JWKS file) the JWT assertion's RS256 "
                                   "signature must verify with (repeatable). Default: "
                                   "signatures not verified.")),
    ("max_connections", OPTIONS["max_connections"].but(help="API connections served at once; "
     "more are answered 503 and closed. Default: 1000, lowered to fit the open-file limit "
     "beside --concurrency.")),
    "read_timeout", "idle_timeout",
)  # fmt: skip


@command(app, PLATFORM)
def platform(flags: Flags) -> int:
    """Mock the platform's API: token, CreateProcess, GetProcess; finish processes, notify
    them, and stop notifying during outages so the polling fallback gets tested."""
    from ..jobs.platform import PlatformJob, serve
    from ..receiver.quietlog import one_line_logger, quietly
    from ..report import write_json

    out = Outputs(report_json=flags["report_json"])
    job = PlatformJob.from_flags(flags)
    console = out.console(width=120)
    warn_insecure(job.settings)
    # One line per token answer (saying whether the signature was verified), and warnings.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    def started(url: str) -> None:
        console.print(f"platform listening on {url} (token: POST {url}/oauth2/token); "
                      f"webhooks to {job.settings.url}; Ctrl-C to stop")  # fmt: skip

    def stopping() -> None:
        name = SIGNALS.first.name if SIGNALS.first else "signal"
        warn(f"{name}: stopping; queued notifications get up to 5 s (again to stop now)")

    serving = serve(job, started=started, stopping=stopping)
    report = run_fast(quietly(serving, one_line_logger("webhook_sim.platform")))
    if flags["report_json"] is not None:
        write_json(flags["report_json"], report)
        console.print(f"report written to {flags['report_json']}")
    s = report.platform.summary
    console.print(f"{s.processes} processes, {s.finished} finished; {s.webhook_missed} missed "
                  f"a webhook, {s.missed_and_polled} of those were polled")  # fmt: skip
    return SIGNALS.exit_code() or 0


RECEIVER = (
    "host", "port",
    ("auth", OPTIONS["auth"].but(help="Auth to expect: none | basic | api-key | oauth2. "
     "Default: inferred from the one kind of credential given, else none.")),
    "basic", "api_key", "client_id", "client_secret",
    ("token_ttl", OPTIONS["token_ttl"].but(help="Lifetime of issued OAuth2 tokens, seconds.")),
    ("fail_rate", option(float, "--fail-rate", default=0.0,
                         help="Probability of answering 500 (0..1).")),
    ("fail_first", option(int, "--fail-first", default=0,
                          help="Answer 500 to the first N deliveries of each notification.")),
    ("latency_ms", option(float, "--latency-ms", default=0.0,
                          help="Delay before answering, milliseconds.")),
    ("status", option(int | None, "--status",
                      help="Answer every valid notification with CODE.")),
    "seed",
    ("flaw", option(list[str] | None, "--flaw", help="Misbehave on purpose (repeatable): "
                    "any-credentials, duplicate-409, duplicate-500, unknown-500, "
                    "extra-field-500, regress, slow.")),
    ("slow_ms", option(float, "--slow-ms", default=2000.0,
                       help="How slow the 'slow' flaw answers, milliseconds.")),
    *LISTEN[2:],
    ("dedup_exact_keys", option(int, "--dedup-exact-keys", default=1_000_000,
                                help="Notifications remembered exactly for duplicate counting; "
                                "beyond, a Bloom filter (0.1% false duplicates at most).")),
    ("quiet", option(bool, "--quiet", "-q", default=False, help="No per-request log lines.")),
)  # fmt: skip


@command(app, RECEIVER)
def receiver(flags: Flags) -> int:
    """Run the sandbox receiver: checks auth and payloads, counts duplicates, injects faults.

    OAuth2: it is also the token provider, at POST /oauth/token. Counters: GET /_stats.
    """
    import asyncio

    from ..jobs.receiver import receiver_config
    from ..receiver.app import serve_forever

    config = receiver_config(flags)
    if not flags["quiet"]:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    asyncio.run(until_signalled(serve_forever(config, flags["host"], flags["port"])))
    return SIGNALS.exit_code() or 0
