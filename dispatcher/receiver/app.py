"""The sandbox receiver: an integrator's endpoint done right, with switches to make it fail.

It never imports the engine: it is the other side of the wire, and only shares the contract's
vocabulary and the credentials' parsers with it. Its settings are in `config`, what it counts
in `state`, its OAuth2 provider in `token`; this module is the request handler and serving.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from dataclasses import dataclass

from aiohttp import web

from ..contract import FINAL_STATUSES
from ..credentials import same_secret
from ..httpjson import json_error
from ..tokens import TokenStore
from .allow import source_allowed
from .config import FLAWS, AuthType, Flaw, ReceiverConfig, infer_auth
from .dedup import NotificationMemory, digest
from .quietlog import one_line_logger, quiet_loop_errors
from .record import Answer, Recorder, answer_of
from .serving import (
    BODY,
    Gate,
    Handler,
    Served,
    ServerLimits,
    fit_connections,
    guard_middleware,
    serve,
)
from .state import ReceiverState
from .token import TOKEN_PATH, token_endpoint
from .validate import Accepted, parse_json, printable, validate

__all__ = [
    "FLAWS",
    "TOKEN_PATH",
    "AuthType",
    "Flaw",
    "ReceiverConfig",
    "RunningReceiver",
    "Sandbox",
    "infer_auth",
    "serve_forever",
    "start_receiver",
]

log = logging.getLogger("webhook_sim.receiver")

STATS_PATH = "/_stats"
PROCESS_PATH = "/processes/{id}"
MAX_BODY_BYTES = 1024 * 1024
FLAW = web.RequestKey("flaw", str)  # the --flaw that decided an answer, for the record
_FLAW_STATUS: dict[Flaw, int] = {
    "duplicate-409": 409,
    "duplicate-500": 500,
    "unknown-500": 500,
    "extra-field-500": 500,
}


class Sandbox:
    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self.state = self._fresh(TokenStore())
        self.gate: Gate | None = None  # set once serving: the connections' side of /_stats
        self.recorder: Recorder | None = None  # --record, opened by start_receiver
        self._rng = random.Random(config.seed)
        self._expected = config.expected_header()

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
        guard = guard_middleware(limits or self.limits(), json_error)
        # Outside the guard, the record sees the answers the guard gives too (413, 408); inside
        # it, the allowlist answers after the connection's deadlines are settled, as auth does.
        middlewares = [self._observe, guard, self._allow]
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=middlewares)
        app.router.add_post(TOKEN_PATH, self.token)
        app.router.add_get(STATS_PATH, self.stats)
        app.router.add_delete(STATS_PATH, self.reset)
        app.router.add_get(PROCESS_PATH, self.process)
        app.router.add_route("*", "/{tail:.*}", self.notify)
        return app

    # Around every request ------------------------------------------------------------------

    @web.middleware
    async def _observe(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Counts every request, and records it with --record once its answer is known."""
        self.state.requests += 1
        arrived = time.time()
        answer = Answer(None, "cancelled before it was answered")
        try:
            response = await handler(request)
            answer = answer_of(response, request.get(FLAW))
            return response
        except web.HTTPException as exc:
            answer = Answer(exc.status, exc.reason)
            raise
        except Exception as exc:
            answer = Answer(500, f"internal error ({type(exc).__name__})")
            raise
        finally:
            if self.recorder is not None:
                self.recorder.write(request, arrived, request.get(BODY), answer)

    @web.middleware
    async def _allow(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # Every path, /_stats included: a source kept out must not read or reset the counters.
        allowed = self.config.allow_from
        if allowed and not source_allowed(allowed, request.remote):
            self.state.forbidden_source += 1
            reason = f"source address {request.remote} is not allowed"
            log.info("%s %s 403 %s", printable(request.method, 16),
                     printable(request.path, 200), reason)  # fmt: skip
            return json_error(403, reason)
        return await handler(request)

    # Endpoints -----------------------------------------------------------------------------

    async def stats(self, request: web.Request) -> web.Response:
        stats = self.state.as_json()
        if self.gate is not None:
            stats["connections"] = self.gate.as_json()
        if self.recorder is not None:
            stats["record"] = self.recorder.as_json()
        return web.json_response(stats)

    async def process(self, request: web.Request) -> web.Response:
        """What this integrator believes about a process: for `check --verify-url`."""
        view = self.state.processes.get(request.match_info["id"])
        if view is None:
            return json_error(404, "unknown process")
        return web.json_response(view)

    async def reset(self, request: web.Request) -> web.Response:
        # A reset of the counters must not log every caller out.
        self.state = self._fresh(self.state.tokens)
        return await self.stats(request)

    async def token(self, request: web.Request) -> web.Response:
        return await token_endpoint(request, self.config, self.state)

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
            return json_error(405, "notifications are POSTed"), "method not allowed"
        auth_problem = None if "any-credentials" in cfg.flaws else self._check_auth(request)
        if auth_problem is not None:
            state.rejected_auth += 1
            challenge = "Bearer" if cfg.auth == "oauth2" else "Basic"
            return json_error(401, auth_problem, challenge=challenge), auth_problem
        if request.content_type != "application/json":
            state.invalid_payload += 1
            got = printable(request.content_type, 100)
            reason = f"Content-Type must be application/json, got {got}"
            return json_error(400, reason), reason
        try:
            accepted = validate(parse_json(await request.read()))
        except ValueError as exc:  # InvalidPayload included
            state.invalid_payload += 1
            reason = f"invalid payload: {exc}"
            return json_error(400, reason), reason
        key = digest(accepted.process_id, accepted.key)
        deliveries = state.memory.delivery(key)
        label = f"{accepted.flow} {accepted.process_id} {accepted.key}"
        if cfg.status is not None and not 200 <= cfg.status < 300:
            state.injected_failures += 1
            return json_error(cfg.status, "injected status"), f"{label} injected {cfg.status}"
        if deliveries <= cfg.fail_first or (cfg.fail_rate and self._rng.random() < cfg.fail_rate):
            state.injected_failures += 1
            return json_error(500, "injected failure"), f"{label} injected failure"
        flaw = self._flawed(accepted, state.memory.was_answered(key))
        if flaw is not None:
            request[FLAW] = flaw
            flawed = _FLAW_STATUS[flaw]
            return json_error(flawed, "flaw"), f"{label} flaw {flawed}"
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

    def _flawed(self, accepted: Accepted, duplicate: bool) -> Flaw | None:
        """The flaw that decides the answer (its status in _FLAW_STATUS), or None to behave."""
        flaws = self.config.flaws
        if duplicate and "duplicate-409" in flaws:
            return "duplicate-409"
        if duplicate and "duplicate-500" in flaws:
            return "duplicate-500"
        if accepted.unknown and "unknown-500" in flaws:
            return "unknown-500"
        if accepted.extra_fields and "extra-field-500" in flaws:
            return "extra-field-500"
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
        if not same_secret(got, expected):
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
        if self.sandbox.recorder is not None:
            self.sandbox.recorder.close()  # after the requests still in progress are recorded


async def start_receiver(
    config: ReceiverConfig, *, host: str = "127.0.0.1", port: int = 0
) -> RunningReceiver:
    """Start the sandbox on `host:port` (0: a free port) and return where it listens."""
    sandbox = Sandbox(config)
    limits = sandbox.limits()
    if config.record is not None:
        expected = config.expected_header()  # its header's value is a credential
        sandbox.recorder = Recorder.open(config.record, [expected[0]] if expected else [])
    try:
        served = await serve(sandbox.app(limits), host, port, limits, one_line_logger(log.name))
    except BaseException:
        if sandbox.recorder is not None:
            sandbox.recorder.close()
        raise
    sandbox.gate = served.gate
    return RunningReceiver(sandbox, served, served.url)


async def serve_forever(config: ReceiverConfig, host: str, port: int) -> None:
    quiet_loop_errors(one_line_logger(log.name))
    running = await start_receiver(config, host=host, port=port)
    # Printed even with --quiet: scripts (and the tests) read the URL from this first line.
    extra = f", token endpoint {running.url}{TOKEN_PATH}" if config.auth == "oauth2" else ""
    if config.allow_from:
        extra += f", only from {', '.join(str(net) for net in config.allow_from)}"
    if config.record is not None:
        extra += f", recording to {config.record}"
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
