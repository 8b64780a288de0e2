"""What each command takes, declared once: name, type, default, help, and the flag that sets it.

The command line turns these into options (`dispatcher.cli.declare`); a Python caller passes
the same names as keyword arguments. A parameter shared by several commands is declared once
in `SHARED` and named by each command that takes it, so `--timeout` means and says the same
everywhere; one whose meaning differs by command (`--status` of `send` and of `receiver`) is
declared by each.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..contract import STATE_FINISHED


@dataclass(frozen=True)
class Param:
    name: str
    kind: Any  # the type: str | None, list[str] | None, Path ...
    flags: tuple[str, ...]  # ("--count", "-n"), ("--adaptive/--no-adaptive",); () for an argument
    help: str
    default: Any = None  # ... for a required one

    def but(self, *, help: str | None = None, default: Any = ...) -> Param:
        """The same parameter with another help text or default (`--port` 8000 or 8080)."""
        return replace(
            self,
            help=self.help if help is None else help,
            default=self.default if default is ... else default,
        )


def p(name: str, kind: Any, *flags: str, help: str, default: Any = None) -> Param:
    return Param(name, kind, flags or ("--" + name.replace("_", "-"),), help, default)


Str, Float, Int = str | None, float | None, int | None

# fmt: off
SHARED = {q.name: q for q in (
    p("url", Str, help="The receiver's notification URL."),
    p("config", Path | None, "--config", "-c",
      help="TOML or YAML settings file, or example:NAME (an installed example: webhook-sim "
      "scenarios); flags override it."),
    p("auth", Str, help="none | basic | api-key | oauth2. Default: inferred from the credentials "
      "given, else none."),
    p("basic", Str, help="USER:PASS for Basic auth (env WEBHOOK_SIM_BASIC)."),
    p("api_key", Str, help="HEADER:VALUE, or VALUE alone (sent as 'Authorization: VALUE') "
      "(env WEBHOOK_SIM_API_KEY)."),
    p("token_url", Str, help="OAuth2 token endpoint."),
    p("client_id", Str, help="OAuth2 client id."),
    p("client_secret", Str, help="OAuth2 client secret (env WEBHOOK_SIM_CLIENT_SECRET)."),
    p("scope", Str, help="OAuth2 scope to request."),
    p("client_auth", Str, help="How the client authenticates to the token endpoint: basic "
      "(client_secret_basic) or post (client_secret_post). Default: basic."),
    p("header", list[str] | None, "--header", "-H",
      help="Extra request header NAME:VALUE (repeatable)."),
    p("secret_header", list[str] | None, help="Like -H, but its value is a credential: masked "
      "as *** in every output (repeatable). Headers named like credentials (Authorization, "
      "*-Key, *Token*, *Signature* ...) are masked even with -H."),
    p("ca_bundle", Path | None, help="PEM file of CAs to trust (a private CA)."),
    p("insecure", bool, help="Do not verify TLS certificates (prints a warning).",
      default=False),
    p("source_address", list[str] | None, help="Local IP (v4 or v6) to send from "
      "(repeatable): new connections take them in turn, each the next of the receiver's "
      "address family. Default: the OS's choice."),
    p("flow", Str, help="by-unico | by-client. Default: by-unico."),
    p("payload_profile", Str, help="by-Unico payload: minimal (processId, state, flow) or "
      "current (with result). Default: current."),
    p("seed", Int, help="Makes ids and jitter reproducible."),
    p("count", Int, "--count", "-n", help="Processes to notify. Default: 100."),
    p("statuses", Str, help="Statuses to notify, comma-separated: by-client 2,3,4,5; by-unico "
      "ok,expired,invalid_identity. Default: all, in a realistic mix."),
    p("duplicates", Float, help="Probability a notification is sent again later. Default: 0."),
    p("reorder", Float, help="Probability a process's earlier status (2) arrives after its "
      "later one (3). Default: 0."),
    p("unknown_status", Float, help="Probability of a status/state the contract does not "
      "list. Default: 0."),
    p("max_attempts", Int, help="Attempts per notification. Default: 5."),
    p("interval", Float, help="Seconds before the first retry; doubles each retry, plus up to "
      "20% jitter. Default: 1."),
    p("max_interval", Float, help="Longest wait between attempts. Default: 60."),
    p("timeout", Float, help="Seconds to wait for a response. Default: 10."),
    p("concurrency", Int, help="Most simultaneous sends, 1..500. Default: 100."),
    p("max_rate", Float, help="Most request starts per second, evenly spaced. Default: "
      "unlimited."),
    p("adaptive", bool | None, "--adaptive/--no-adaptive", help="Cut the in-flight limit when "
      "the receiver fails (AIMD). Default: on."),
    p("throttle_window", Float, help="Seconds per throttle window. Default: 1."),
    p("throttle_threshold", Float, help="Failure rate that cuts the limit. Default: 0.2."),
    p("throttle_decrease", Float, help="Factor the limit is cut by. Default: 0.5."),
    p("report_json", Path | None, help="Write the JSON report to this file."),
    p("hdr_log", Path | None, help="Write the response-time histograms here in HdrHistogram's "
      "interval log format (one interval per second, tagged response; the whole run's tagged "
      "run-response and run-service): for HdrHistogram's own tools."),
    p("metrics_port", Int, help="Serve live Prometheus metrics on this port while the run goes "
      "(/metrics; 0: any free port, told on stderr)."),
    p("metrics_host", Str, help="Address --metrics-port listens on (0.0.0.0: every interface, "
      "for a Prometheus on another host). Default: 127.0.0.1."),
    p("metrics_linger", Float, help="After the run, keep serving --metrics-port until a scrape "
      "has read the final figures, at most this long (a Prometheus scrapes every 15 s or so). "
      "Default: 0."),
    p("grace", float, help="Seconds in-flight requests may finish after Ctrl-C.", default=2.0),
    p("host", str, help="Address to listen on.", default="127.0.0.1"),
    p("port", int, help="Port to listen on (0: any free).", default=8080),
    p("max_connections", Int, help="Connections served at once; more are answered 503 and "
      "closed. Default: 1000, lowered to fit the open-file limit."),
    p("read_timeout", float, help="Seconds a request head may take to arrive, and then its "
      "body.", default=10.0),
    p("idle_timeout", float, help="Seconds an idle keep-alive connection is kept.",
      default=75.0),
    p("token_ttl", int, help="Lifetime of the tokens it issues, seconds.", default=3600),
    p("workers", Int, "--workers", "-w", help="Sender processes. Default: one per core."),
    p("http_client", str, help="lean (httptools on asyncio protocols: 2.4x the deliveries/s of "
      "aiohttp in one worker, see docs/benchmarks.md) or aiohttp.", default="lean"),
    p("shard", Str, help="K/N: send shard K of N of the one global plan (env "
      "WEBHOOK_SIM_SHARD); merge the shards' --shard-out files with 'webhook-sim merge'."),
    p("run_id", Str, help="Names the run every shard belongs to (the same on every shard). "
      "Default with --shard: none, and it is required."),
    p("start_at", Str, help="Start the clock at this instant: RFC 3339 UTC "
      "(2026-11-26T16:00:00Z), unix seconds, or +30s from now."),
    p("start_tolerance", str, help="How late after --start-at a shard may be ready and still "
      "start; later, it sends nothing and exits 1.", default="1s"),
    p("shard_out", Path | None, help="Write this shard's mergeable result here ('-': stdout, "
      "and the rest of the output goes to stderr)."),
    p("set", list[str] | None, help="FIELD=VALUE: set a field in every body (repeatable): "
      "VALUE as JSON when it parses (status=7, result='\"expired\"'), else as text; a dotted "
      "FIELD (extra.trace=1) adds or replaces a nested one."),
    p("unset", list[str] | None, help="FIELD: remove a field from every body (repeatable)."),
    p("process_ids", Path | None, help="Processes take these ids in order, one per line ('-': "
      "stdin), cycling when there are fewer ids than processes."),
    p("bodies", Path | None, help="Send these bodies as they are, one JSON object per line, "
      "one process each, in order."),
    p("log", Path | None, help="Write one JSON line per attempt here, as it happens ('-': "
      "stdout): what was sent, what came back, each notification's final outcome. No secret "
      "is written. 'webhook-sim replay' re-sends from it."),
    p("ray", bool, help="Run the shards on a Ray cluster, one per node where it can, start "
      "them together and merge their results (pip install 'webhook-sim[ray]').",
      default=False),
    p("shards", Int, help="With --ray: how many shards (one per node where the cluster has "
      "enough)."),
    p("ray_address", Str, help="With --ray: the cluster (env RAY_ADDRESS). Default: a local "
      "Ray started for the run."),
    p("quiet", bool, "--quiet", "-q", help="Nothing on stdout: no banner, progress or tables "
      "(warnings and errors still on stderr, files still written); the exit code is the "
      "verdict.", default=False),
    p("output", str, help="text, or json: the result as one JSON document on stdout (the "
      "--report-json model; send: the attempts and outcome), the rest on stderr.",
      default="text"),
)}

TARGET = ("url", "config")
AUTH = ("auth", "basic", "api_key", "token_url", "client_id", "client_secret", "scope",
        "client_auth")
PAYLOAD = ("flow", "payload_profile")
OVERRIDES = ("set", "unset", "process_ids", "bodies")
TRAFFIC = ("statuses", "duplicates", "reorder", "unknown_status")
RETRY = ("max_attempts", "interval", "max_interval", "timeout")
THROTTLE = ("concurrency", "max_rate", "adaptive", "throttle_window", "throttle_threshold",
            "throttle_decrease")
HTTP = ("header", "secret_header", "ca_bundle", "insecure")
SHARDING = ("shard", "run_id", "start_at", "start_tolerance", "shard_out", "ray", "shards",
            "ray_address")
S = SHARED

SEND = (*TARGET, *AUTH, *PAYLOAD,
    p("status", int, help="by-Client status to notify (2..5; others test tolerance of unknown "
      "statuses).", default=3),
    p("state", str, help="by-Unico state.", default=STATE_FINISHED),
    p("result", str, help="by-Unico result: ok | expired | invalid_identity.", default="ok"),
    p("process_flow", Str, help="by-Unico journey (flow field). Default: random."),
    p("process_id", Str, help="Process UUID. Default: random."),
    "set", "unset",
    S["bodies"].but(help="Send this body as it is: a file of one JSON object (one line)."),
    *RETRY, "seed", *HTTP, "log", "source_address", "quiet", "output")

RUN = (
    Param("scenario", Path | None, (), "A scenario file (scenarios/*.yaml), or scenario:NAME (an "
          "installed one: webhook-sim scenarios); flags override its settings.", None),
    *TARGET, *AUTH, *PAYLOAD, "count", *TRAFFIC, *OVERRIDES, *THROTTLE, *RETRY, "seed", *HTTP,
    "source_address", "report_json", "hdr_log", "metrics_port", "metrics_host",
    "metrics_linger", "log",
    p("report_html", Path | None, help="Write a self-contained HTML report with charts."),
    p("junit", Path | None, help="With a scenario: JUnit XML, one testcase per expectation."),
    "grace",
    p("progress_every", Float, help="Seconds between progress lines when not on a terminal. "
      "Default: 5."),
    "workers", "http_client", *SHARDING, "quiet", "output")

CHECK = (*TARGET, *AUTH, "flow",
    S["timeout"].but(help="The platform's timeout: p99 latency must stay below it. Default: 10."),
    *HTTP, "source_address", "seed",
    p("junit", Path | None, help="Write a JUnit XML report to this file."),
    "report_json", "log",
    p("list_checks", bool, "--list", help="List the checks, one line each (--output json: a "
      "list of their name and description), and exit.", default=False),
    p("only", list[str] | None, help="Run only this check (repeatable)."),
    p("verify_url", Str, help="The receiver's own view of a process, {id} replaced: enables "
      "no-regression."),
    p("verify_field", str, help="Dotted path of the status in that view.", default="status"),
    p("batch", int, help="Notifications in the latency batch.", default=100),
    p("burst", int, help="Simultaneous sends in the burst check (1..500).", default=500),
    p("burst_max_failure", float, help="Failure rate the burst may reach (0..1).",
      default=0.01),
    p("platform", Str, help="URL of a running 'webhook-sim platform' your app uses: enables "
      "fallback-polling."),
    p("fallback_within", float, help="Seconds after a process finishes by which it must be "
      "polled.", default=30.0),
    p("fallback_create_url", Str, help="Your app's endpoint that starts a verification "
      "(POSTed --fallback-count times)."),
    p("fallback_count", int, help="Verifications to start during the outage.", default=3),
    p("fallback_window", float, help="Seconds the outage lasts at most while processes "
      "finish.", default=10.0),
    p("denied_source", Str, help="A local IP the receiver must refuse notifications from "
      "(not 2xx, or no connection): enables denied-source."),
    "quiet", "output")

LOAD = (*TARGET, *AUTH, *PAYLOAD,
    p("rate", Str, help="Arrivals per second (open model), or 'max' for a closed model at the "
      "cap."),
    p("duration", str, "--duration", "-d", help="How long: 10, 10s, 2m, 1h.", default="10s"),
    p("ramp", Str, help="A rate profile TIME:RATE,... e.g. 0:50,30s:2000,60s:2000 (no --rate)."),
    "workers", "concurrency", "adaptive", *TRAFFIC, *OVERRIDES, *RETRY, "seed", *HTTP,
    "source_address", "report_json", "hdr_log", "metrics_port", "metrics_host",
    "metrics_linger", "log",
    p("report_html", Path | None, help="Write a self-contained HTML report with charts."),
    p("expect", list[str] | None, help="Threshold METRIC OP VALUE, e.g. 'response_p99_ms<300' "
      "(repeatable): any unmet threshold exits 1."),
    "grace",
    p("graceful_stop", str, help="After --duration, how long in-flight attempts and retries "
      "may go on before they are cancelled (as k6's gracefulStop).", default="10s"),
    "http_client", *SHARDING, "quiet", "output")

MERGE = (
    Param("shards", list[Path], (), "Shard results written by run/load --shard-out.", ...),
    p("expect_shards", Int, help="How many shards the run was split into: refuse to merge "
      "fewer. Default: the N the shards say (K/N)."),
    p("allow_partial", bool, help="Merge the shards there are, even with some missing (the "
      "report lists them; the exit code is 1).", default=False),
    S["report_json"].but(help="Write the merged JSON report to this file."),
    p("report_html", Path | None, help="Write a self-contained HTML report with charts."),
    p("expect", list[str] | None, help="Threshold METRIC OP VALUE (repeatable). Default: the "
      "thresholds (load) or the scenario (run) the shards were given."),
    "quiet", "output")

REPLAY = (
    Param("source", Path, (), "An attempt log (--log) or a receiver recording (--record).", ...),
    p("only", str, help="Which notifications: failed (not delivered), exhausted, delivered, "
      "all.", default="failed"),
    S["url"].but(help="Where to send them. Default: the URL the attempt log names."),
    "config", *AUTH, *RETRY, "concurrency", "adaptive", "max_rate", *HTTP, "source_address",
    p("keep_timing", bool, help="Keep the recorded spacing between first sends.", default=False),
    p("rate", Float, help="Pace the sends at this many per second instead."),
    p("print_curl", bool, help="Print one curl command per notification (credentials from "
      "the environment) and send nothing.", default=False),
    "report_json", "log", "grace")

REPORT = (
    Param("source", Path, (), "A JSON report saved by load (or run) --report-json.", ...),
    p("html", Path | None, help="Write the HTML report (of a load or run report) here."),
    p("compare", Path | None, help="A baseline report of the same kind: print both side by "
      "side (and with --html, on the page) and exit 1 when SOURCE is worse beyond "
      "--tolerance."),
    p("tolerance", str, help="How much worse than the baseline a metric may be: 10% or 0.1.",
      default="10%"))

PLATFORM = (
    p("webhook_url", Str, help="Where the platform sends notifications (your app)."),
    "host", S["port"].but(default=8000), "config", *AUTH, *RETRY, "concurrency", *HTTP,
    p("finish_after", str, help="When a process finishes: 2s, or a range 1s..5s.",
      default="2s"),
    p("outage", list[str] | None, help="START+DURATION of a webhook outage, e.g. 30s+60s "
      "(repeatable)."),
    p("outage_mode", str, help="drop: never sent; delay: sent when the outage ends.",
      default="drop"),
    S["token_ttl"].but(help="Lifetime of API tokens, seconds."),
    p("audience", Str, help="The aud the JWT assertion must carry. Default: any."),
    p("apikey", Str, help="The APIKEY by-Client calls must send. Default: any."),
    p("unico_mix", Str, help="How by-Unico processes end, NAME=WEIGHT. Default: "
      "ok=70,expired=18,invalid_identity=12."),
    p("client_mix", Str, help="How by-Client processes end, PATH=WEIGHT. Default: "
      "3=60,2-3=15,4=13,5=12."),
    S["duplicates"].but(help="Probability a notification is sent twice. Default: 0."),
    S["reorder"].but(help="Probability a by-Client 2 goes out after its 3. Default: 0."),
    "seed", "report_json",
    p("service_account_key", list[Path] | None, help="Public key (PEM, or a JWKS file) the JWT "
      "assertion's RS256 signature must verify with (repeatable). Default: signatures not "
      "verified."),
    S["max_connections"].but(help="API connections served at once; more are answered 503 and "
      "closed. Default: 1000, lowered to fit the open-file limit beside --concurrency."),
    "read_timeout", "idle_timeout")

RECEIVER = ("host", "port",
    S["auth"].but(help="Auth to expect: none | basic | api-key | oauth2. Default: inferred "
      "from the one kind of credential given, else none."),
    "basic", "api_key", "client_id", "client_secret",
    S["token_ttl"].but(help="Lifetime of issued OAuth2 tokens, seconds."),
    p("fail_rate", float, help="Probability of answering 500 (0..1).", default=0.0),
    p("fail_first", int, help="Answer 500 to the first N deliveries of each notification.",
      default=0),
    p("latency_ms", float, help="Delay before answering, milliseconds.", default=0.0),
    p("status", Int, help="Answer every valid notification with CODE."),
    "seed",
    p("flaw", list[str] | None, help="Misbehave on purpose (repeatable): any-credentials, "
      "duplicate-409, duplicate-500, unknown-500, extra-field-500, regress, slow."),
    p("slow_ms", float, help="How slow the 'slow' flaw answers, milliseconds.", default=2000.0),
    "max_connections", "read_timeout", "idle_timeout",
    p("dedup_exact_keys", int, help="Notifications remembered exactly for duplicate counting; "
      "beyond, a Bloom filter (0.1% false duplicates at most).", default=1_000_000),
    p("record", Path | None, help="Append one JSON line per request to this file, "
      "credentials masked ('-': stdout; the logs are on stderr)."),
    p("allow_from", list[str] | None, help="Answer 403 to every source outside this network, "
      "CIDR, IPv4 or IPv6, on every path /_stats included (repeatable). Default: any source."),
    p("quiet", bool, "--quiet", "-q", help="No per-request log lines.", default=False))

DEMO = (S["seed"].but(help="Seed for the demo's process ids.", default=7),)
# fmt: on


# What `--help` shows for a value: what to type, never a Python type name.
_METAVARS = {
    "basic": "USER:PASS", "api_key": "HEADER:VALUE", "header": "NAME:VALUE",
    "secret_header": "NAME:VALUE", "shard": "K/N", "expect": "EXPR", "set": "FIELD=VALUE",
    "unset": "FIELD", "source_address": "IP", "denied_source": "IP", "allow_from": "CIDR",
    "start_at": "TIME", "duration": "DURATION", "graceful_stop": "DURATION",
    "start_tolerance": "DURATION", "start_in": "DURATION", "finish_after": "DURATION",
    "rate": "RATE", "ramp": "PROFILE", "seed": "N", "tolerance": "PERCENT",
    "outage": "START+DURATION", "statuses": "LIST", "run_id": "ID", "only": "NAME",
    "flaw": "FLAW", "status": "STATUS", "output": "text|json",
    # A few choices, spelled as they are typed; the longer ones are in the help text.
    "auth": "none|basic|api-key|oauth2", "flow": "by-unico|by-client", "client_auth": "basic|post",
    "payload_profile": "minimal|current", "http_client": "lean|aiohttp", "emit": "k8s|gha|ssh",
    "outage_mode": "drop|delay", "result": "ok|expired|invalid_identity",
    "host": "HOST", "metrics_host": "HOST", "port": "PORT", "metrics_port": "PORT",
    "ray_address": "ADDRESS", "client_id": "ID", "client_secret": "SECRET", "scope": "SCOPE",
    "process_id": "UUID", "process_flow": "FLOW", "state": "STATE", "verify_field": "FIELD",
    "image": "IMAGE", "results_dir": "DIR", "audience": "AUDIENCE", "apikey": "APIKEY",
    "unico_mix": "NAME=WEIGHT,...", "client_mix": "PATH=WEIGHT,...",
}  # fmt: skip
_SECONDS = {"timeout", "interval", "max_interval", "grace", "throttle_window", "token_ttl",
            "read_timeout", "idle_timeout", "fallback_within", "fallback_window",
            "progress_every", "metrics_linger"}  # fmt: skip


def metavar(param: Param) -> str | None:
    """The value's name in `--help` (URL, N, SECONDS, PATH ...); None for a switch."""
    kind = str(param.kind)
    if param.kind is bool or "bool" in kind:
        return None
    if param.name == "host" and "list" in kind:  # plan's: where a shard runs
        return "[USER@]HOST"
    if param.name in _METAVARS:
        return _METAVARS[param.name]
    if "url" in param.name or param.name in ("platform", "webhook_url"):
        return "URL"
    if param.name in _SECONDS:
        return "SECONDS"
    if "Path" in kind or "path" in kind.lower():
        return "PATH"
    if "int" in kind:
        return "N"
    if "float" in kind:
        return "NUMBER"
    return "TEXT"


def resolve(entries: tuple[str | Param, ...]) -> tuple[Param, ...]:
    """A command's parameters, names looked up in `SHARED`."""
    return tuple(SHARED[e] if isinstance(e, str) else e for e in entries)
