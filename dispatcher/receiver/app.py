"""The sandbox receiver: an integrator's endpoint done right, with switches to make it fail.

It never imports the engine: it is the other side of the wire, and only shares the contract's
vocabulary and the auth settings' shape with it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import random
import sys
import time
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from ..contract import FINAL_STATUSES
from ..credentials import split_api_key
from ..errors import ConfigError
from ..tokens import TokenStore
from .dedup import NotificationMemory, digest
from .quietlog import one_line_logger, quiet_loop_errors
from .serving import (
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_READ_TIMEOUT_S,
    Gate,
    Served,
    ServerLimits,
    fit_connections,
    guard_middleware,
    serve,
)
from .validate import Accepted, parse_json, printable, validate

log = logging.getLogger("webhook_sim.receiver")

TOKEN_PATH = "/oauth/token"
STATS_PATH = "/_stats"
PROCESS_PATH = "/processes/{id}"

Flaw = Literal[
    "any-credentials",  # accepts any (or no) credentials
    "duplicate-409",  # 409 Conflict on a notification it has already accepted
    "duplicate-500",  # 500 on a notification it has already accepted
    "unknown-500",  # 500 on a status, state, result or event it does not know
    "extra-field-500",  # 500 on a field it does not know
    "regress",  # a late, earlier status overwrites the final one
    "slow",  # answers after slow_ms, longer than a sender's timeout
]
FLAWS: tuple[str, ...] = Flaw.__args__  # type: ignore[attr-defined]
AuthType = Literal["none", "basic", "api-key", "oauth2"]
MAX_BODY_BYTES = 1024 * 1024
DEFAULT_EXACT_KEYS = 1_000_000
# `GET /processes/{id}` answers for this many most recently notified processes: enough for
# `check --verify-url`, which asks about what it just sent, at about 200 bytes a process.
PROCESS_VIEWS = 100_000


def infer_auth(
    explicit: str | None,
    *,
    basic: object = None,
    api_key: object = None,
    client_id: object = None,
    client_secret: object = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """The auth to expect: --auth when given, else the one kind of credential given, as the
    sender infers it (and, with no credential flag, the one credential in the environment).

    Two kinds given without --auth is refused: guessing would test the wrong thing.
    """
    if explicit is not None:
        return explicit
    kinds = [
        (kind, flag)
        for kind, flag, given in (
            ("basic", "--basic", basic),
            ("api-key", "--api-key", api_key),
            ("oauth2", "--client-id/--client-secret", client_id or client_secret),
        )
        if given
    ]
    if len(kinds) > 1:
        raise ConfigError(
            f"{' and '.join(flag for _, flag in kinds)} given: say which the receiver expects "
            "with --auth"
        )
    if kinds:
        return kinds[0][0]
    present = [
        kind
        for kind, name in (("basic", "WEBHOOK_SIM_BASIC"), ("api-key", "WEBHOOK_SIM_API_KEY"))
        if (env or {}).get(name)
    ]
    return present[0] if len(present) == 1 else "none"


class ReceiverConfig(BaseModel):
    """What the sandbox expects from callers, and how it misbehaves on purpose."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    auth: AuthType = "none"  # when not given: inferred from the credentials (infer_auth)
    basic: SecretStr | None = None
    api_key: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    token_ttl_s: int = Field(3600, ge=1, le=86400)
    fail_rate: float = Field(0.0, ge=0, le=1)
    fail_first: int = Field(0, ge=0)
    latency_ms: float = Field(0.0, ge=0, le=600_000)
    status: int | None = Field(None, ge=100, le=599)
    seed: int | None = None
    flaws: tuple[Flaw, ...] = ()
    slow_ms: float = Field(2000.0, ge=0, le=600_000)
    # None: DEFAULT_MAX_CONNECTIONS, fitted under the open-file limit (serving.fit_connections).
    max_connections: int | None = Field(None, ge=1, le=1_000_000)
    read_timeout_s: float = Field(DEFAULT_READ_TIMEOUT_S, gt=0, le=3600)
    idle_timeout_s: float = Field(DEFAULT_IDLE_TIMEOUT_S, gt=0, le=86400)
    dedup_exact_keys: int = Field(DEFAULT_EXACT_KEYS, ge=0, le=100_000_000)

    @model_validator(mode="before")
    @classmethod
    def _infer_auth(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("auth") is None:
            try:
                auth = infer_auth(
                    None,
                    basic=data.get("basic"),
                    api_key=data.get("api_key"),
                    client_id=data.get("client_id"),
                    client_secret=data.get("client_secret"),
                )
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
            data = {**data, "auth": auth}
        return data

    @model_validator(mode="after")
    def _complete(self) -> ReceiverConfig:
        if self.auth == "basic" and (
            self.basic is None or ":" not in self.basic.get_secret_value()
        ):
            raise ValueError("--basic USER:PASS is required with --auth basic")
        if self.auth == "api-key" and not self.api_key:
            raise ValueError("--api-key HEADER:VALUE (or VALUE) is required with --auth api-key")
        if self.auth == "oauth2" and not (self.client_id and self.client_secret):
            raise ValueError("--client-id and --client-secret are required with --auth oauth2")
        return self


class ProcessViews:
    """The receiver's own view of each process, as an integrator's app would keep it; only the
    `limit` most recently notified processes are kept, so memory stays bounded."""

    def __init__(self, limit: int = PROCESS_VIEWS) -> None:
        self.limit = limit
        self.forgotten = 0
        # (flow, status or state, result); OrderedDict: evicting the oldest is O(1).
        self._views: OrderedDict[str, tuple[str, int | str, str | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._views)

    def status(self, process_id: str) -> int | str | None:
        view = self._views.get(process_id)
        return None if view is None else view[1]

    def put(self, accepted: Accepted) -> None:
        views = self._views
        views.pop(accepted.process_id, None)
        # Interned: a million "PROCESS_STATE_FINISHED" decoded from bodies are one string.
        state = sys.intern(accepted.status) if isinstance(accepted.status, str) else accepted.status
        result = sys.intern(accepted.result) if accepted.result is not None else None
        views[accepted.process_id] = (accepted.flow, state, result)
        if len(views) > self.limit:
            views.popitem(last=False)
            self.forgotten += 1

    def get(self, process_id: str) -> dict[str, Any] | None:
        view = self._views.get(process_id)
        if view is None:
            return None
        flow, status, result = view
        if flow == "by-client":
            return {"id": process_id, "status": status}
        return {"id": process_id, "state": status, "result": result}


@dataclass
class ReceiverState:
    """Everything the receiver counts; served as JSON at /_stats."""

    received: int = 0
    accepted: int = 0
    rejected_auth: int = 0
    invalid_payload: int = 0
    unique: int = 0  # notifications answered 2xx at least once
    duplicates: int = 0
    injected_failures: int = 0
    unknown: int = 0
    extra_fields: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    token_requests: int = 0
    tokens_issued: int = 0
    responses: Counter[int] = field(default_factory=Counter)
    # Deliveries per notification and whether one was answered 2xx, in bounded memory.
    memory: NotificationMemory = field(
        default_factory=lambda: NotificationMemory(DEFAULT_EXACT_KEYS)
    )
    tokens: TokenStore = field(default_factory=TokenStore)
    processes: ProcessViews = field(default_factory=ProcessViews)

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "accepted": self.accepted,
            "rejected_auth": self.rejected_auth,
            "invalid_payload": self.invalid_payload,
            "unique": self.unique,
            "duplicates": self.duplicates,
            "injected_failures": self.injected_failures,
            "unknown": self.unknown,
            "extra_fields": self.extra_fields,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "token_requests": self.token_requests,
            "tokens_issued": self.tokens_issued,
            "responses": {str(code): n for code, n in sorted(self.responses.items())},
            "dedup": self.memory.as_json(),
            "processes": {
                "kept": len(self.processes),
                "limit": self.processes.limit,
                "forgotten": self.processes.forgotten,
            },
        }


def _json_error(status: int, reason: str, **headers: str) -> web.Response:
    return web.json_response({"error": reason}, status=status, headers=headers)


class Sandbox:
    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self.state = self._fresh(TokenStore())
        self.gate: Gate | None = None  # set once serving: the connections' side of /_stats
        self._rng = random.Random(config.seed)
        if config.auth == "basic" and config.basic is not None:
            raw = config.basic.get_secret_value().encode()
            self._expected: tuple[str, str] | None = (
                "Authorization",
                "Basic " + base64.b64encode(raw).decode(),
            )
        elif config.auth == "api-key" and config.api_key is not None:
            self._expected = split_api_key(config.api_key.get_secret_value())
        else:
            self._expected = None

    def _fresh(self, tokens: TokenStore) -> ReceiverState:
        memory = NotificationMemory(self.config.dedup_exact_keys)
        return ReceiverState(memory=memory, tokens=tokens)

    def limits(self) -> ServerLimits:
        cfg = self.config
        return ServerLimits(
            max_connections=fit_connections(cfg.max_connections)[0],
            read_timeout_s=cfg.read_timeout_s,
            idle_timeout_s=cfg.idle_timeout_s,
            max_body_bytes=MAX_BODY_BYTES,
        )

    def app(self, limits: ServerLimits | None = None) -> web.Application:
        guard = guard_middleware(limits or self.limits(), _json_error)
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[guard])
        app.router.add_post(TOKEN_PATH, self.token)
        app.router.add_get(STATS_PATH, self.stats)
        app.router.add_delete(STATS_PATH, self.reset)
        app.router.add_get(PROCESS_PATH, self.process)
        app.router.add_route("*", "/{tail:.*}", self.notify)
        return app

    # Endpoints -----------------------------------------------------------------------------

    async def stats(self, request: web.Request) -> web.Response:
        stats = self.state.as_json()
        if self.gate is not None:
            stats["connections"] = self.gate.as_json()
        return web.json_response(stats)

    async def process(self, request: web.Request) -> web.Response:
        """What this integrator believes about a process: for `check --verify-url`."""
        view = self.state.processes.get(request.match_info["id"])
        if view is None:
            return _json_error(404, "unknown process")
        return web.json_response(view)

    async def reset(self, request: web.Request) -> web.Response:
        # A reset of the counters must not log every caller out.
        self.state = self._fresh(self.state.tokens)
        return await self.stats(request)

    async def token(self, request: web.Request) -> web.Response:
        """RFC 6749 section 4.4, client credentials (client_secret_basic or client_secret_post)."""
        self.state.token_requests += 1
        cfg = self.config
        if cfg.auth != "oauth2" or cfg.client_id is None or cfg.client_secret is None:
            return _json_error(404, "this receiver is not configured for oauth2")
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return _json_error(400, "unsupported_grant_type")
        client_id, client_secret = self._client_credentials(request, form)
        if client_id is None or not (
            hmac.compare_digest(client_id, cfg.client_id)
            and hmac.compare_digest(client_secret or "", cfg.client_secret.get_secret_value())
        ):
            log.info("POST %s 401 invalid_client", TOKEN_PATH)
            return _json_error(401, "invalid_client", **{"WWW-Authenticate": "Basic"})
        token = self.state.tokens.issue(cfg.token_ttl_s)
        self.state.tokens_issued += 1
        log.info("POST %s 200 token issued (ttl %ss)", TOKEN_PATH, cfg.token_ttl_s)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": cfg.token_ttl_s},
            headers={"Cache-Control": "no-store"},
        )

    @staticmethod
    def _client_credentials(request: web.Request, form: Any) -> tuple[str | None, str | None]:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                decoded = base64.b64decode(header[6:], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None, None
            client_id, _, client_secret = decoded.partition(":")
            return client_id, client_secret
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        return (str(client_id) if client_id else None), (
            str(client_secret) if client_secret else None
        )

    async def notify(self, request: web.Request) -> web.Response:
        state = self.state
        state.received += 1
        state.in_flight += 1
        state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
        started = time.perf_counter()
        try:
            response, note = await self._handle(request)
        finally:
            state.in_flight -= 1
        state.responses[response.status] += 1
        log.info(
            "%s %s %d %s %.1fms",
            printable(request.method, 16),
            printable(request.path, 200),
            response.status,
            printable(note, 300),
            (time.perf_counter() - started) * 1000,
        )
        return response

    async def _handle(self, request: web.Request) -> tuple[web.Response, str]:
        cfg, state = self.config, self.state
        if cfg.latency_ms:
            await asyncio.sleep(cfg.latency_ms / 1000)
        if "slow" in cfg.flaws:
            await asyncio.sleep(cfg.slow_ms / 1000)
        if request.method != "POST":
            return _json_error(405, "notifications are POSTed"), "method not allowed"
        auth_problem = None if "any-credentials" in cfg.flaws else self._check_auth(request)
        if auth_problem is not None:
            state.rejected_auth += 1
            challenge = "Bearer" if cfg.auth == "oauth2" else "Basic"
            return _json_error(401, auth_problem, **{"WWW-Authenticate": challenge}), auth_problem
        if request.content_type != "application/json":
            state.invalid_payload += 1
            got = printable(request.content_type, 100)
            reason = f"Content-Type must be application/json, got {got}"
            return _json_error(400, reason), reason
        try:
            accepted = validate(parse_json(await request.read()))
        except ValueError as exc:  # InvalidPayload included
            state.invalid_payload += 1
            reason = f"invalid payload: {exc}"
            return _json_error(400, reason), reason
        key = digest(accepted.process_id, accepted.key)
        deliveries = state.memory.delivery(key)
        label = f"{accepted.flow} {accepted.process_id} {accepted.key}"
        if cfg.status is not None and not 200 <= cfg.status < 300:
            state.injected_failures += 1
            return _json_error(cfg.status, "injected status"), f"{label} injected {cfg.status}"
        if deliveries <= cfg.fail_first or (cfg.fail_rate and self._rng.random() < cfg.fail_rate):
            state.injected_failures += 1
            return _json_error(500, "injected failure"), f"{label} injected failure"
        flawed = self._flawed(accepted, state.memory.was_answered(key))
        if flawed is not None:
            return _json_error(flawed, "flaw"), f"{label} flaw {flawed}"
        state.accepted += 1
        state.unknown += accepted.unknown
        state.extra_fields += bool(accepted.extra_fields)
        if state.memory.answered(key):
            state.duplicates += 1
            label += " duplicate"
        else:
            state.unique += 1
        self._remember(accepted)
        return web.json_response({"ok": True}, status=cfg.status or 200), label

    def _flawed(self, accepted: Accepted, duplicate: bool) -> int | None:
        """The status a deliberately flawed receiver answers with, or None to behave."""
        flaws = self.config.flaws
        if duplicate and "duplicate-409" in flaws:
            return 409
        if duplicate and "duplicate-500" in flaws:
            return 500
        if accepted.unknown and "unknown-500" in flaws:
            return 500
        if accepted.extra_fields and "extra-field-500" in flaws:
            return 500
        return None

    def _remember(self, accepted: Accepted) -> None:
        views = self.state.processes
        if (
            accepted.flow == "by-client"
            and "regress" not in self.config.flaws
            and views.status(accepted.process_id) in FINAL_STATUSES
            and accepted.status not in FINAL_STATUSES
        ):
            return  # a late "in divergence" must not undo "completed"
        views.put(accepted)

    def _check_auth(self, request: web.Request) -> str | None:
        """None when the caller is who the receiver expects; otherwise the reason for the 401."""
        cfg = self.config
        if cfg.auth == "none":
            return None
        if cfg.auth == "oauth2":
            return self.state.tokens.problem(request.headers.get("Authorization", ""))
        assert self._expected is not None
        name, expected = self._expected
        got = request.headers.get(name)
        if got is None:
            return f"missing {name} header"
        if not hmac.compare_digest(got.encode(), expected.encode()):
            return f"{name} does not match"
        return None


@dataclass
class RunningReceiver:
    sandbox: Sandbox
    served: Served
    url: str

    @property
    def state(self) -> ReceiverState:
        return self.sandbox.state

    @property
    def gate(self) -> Gate:
        return self.served.gate

    async def close(self) -> None:
        await self.served.close()


async def start_receiver(
    config: ReceiverConfig, *, host: str = "127.0.0.1", port: int = 0
) -> RunningReceiver:
    """Start the sandbox on `host:port` (0: a free port) and return where it listens."""
    sandbox = Sandbox(config)
    limits = sandbox.limits()
    served = await serve(sandbox.app(limits), host, port, limits, one_line_logger(log.name))
    sandbox.gate = served.gate
    return RunningReceiver(sandbox, served, served.url)


async def serve_forever(config: ReceiverConfig, host: str, port: int) -> None:
    quiet_loop_errors(one_line_logger(log.name))
    running = await start_receiver(config, host=host, port=port)
    # Printed even with --quiet: scripts (and the tests) read the URL from this first line.
    extra = f", token endpoint {running.url}{TOKEN_PATH}" if config.auth == "oauth2" else ""
    print(
        f"sandbox receiver listening on {running.url} (auth {config.auth}{extra})",
        file=sys.stderr,
        flush=True,
    )
    _, lowered = fit_connections(config.max_connections)
    if lowered is not None:
        print(f"sandbox receiver: {lowered}", file=sys.stderr, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await running.close()
