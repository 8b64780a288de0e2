"""The sandbox receiver: an integrator's endpoint done right, with switches to make it fail.

It never imports the engine: it is the other side of the wire, and only shares the contract's
vocabulary and the auth settings' shape with it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from ..auth import api_key_header
from ..contract import FINAL_STATUSES
from ..tokens import TokenStore
from .validate import Accepted, InvalidPayload, validate

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


class ReceiverConfig(BaseModel):
    """What the sandbox expects from callers, and how it misbehaves on purpose."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    auth: Literal["none", "basic", "api-key", "oauth2"] = "none"
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


@dataclass
class ReceiverState:
    """Everything the receiver counts; served as JSON at /_stats."""

    received: int = 0
    accepted: int = 0
    rejected_auth: int = 0
    invalid_payload: int = 0
    duplicates: int = 0
    injected_failures: int = 0
    unknown: int = 0
    extra_fields: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    token_requests: int = 0
    tokens_issued: int = 0
    responses: Counter[int] = field(default_factory=Counter)
    seen: dict[tuple[str, str], int] = field(default_factory=dict)  # deliveries per notification
    delivered: set[tuple[str, str]] = field(default_factory=set)  # notifications answered 2xx
    tokens: TokenStore = field(default_factory=TokenStore)
    # The receiver's own view of each process, as an integrator's app would keep it.
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "accepted": self.accepted,
            "rejected_auth": self.rejected_auth,
            "invalid_payload": self.invalid_payload,
            "unique": len(self.delivered),
            "duplicates": self.duplicates,
            "injected_failures": self.injected_failures,
            "unknown": self.unknown,
            "extra_fields": self.extra_fields,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "token_requests": self.token_requests,
            "tokens_issued": self.tokens_issued,
            "responses": {str(code): n for code, n in sorted(self.responses.items())},
        }


def _json_error(status: int, reason: str, **headers: str) -> web.Response:
    return web.json_response({"error": reason}, status=status, headers=headers)


class Sandbox:
    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self.state = ReceiverState()
        self._rng = random.Random(config.seed)
        if config.auth == "basic" and config.basic is not None:
            raw = config.basic.get_secret_value().encode()
            self._expected: tuple[str, str] | None = (
                "Authorization",
                "Basic " + base64.b64encode(raw).decode(),
            )
        elif config.auth == "api-key" and config.api_key is not None:
            self._expected = api_key_header(config.api_key.get_secret_value())
        else:
            self._expected = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post(TOKEN_PATH, self.token)
        app.router.add_get(STATS_PATH, self.stats)
        app.router.add_delete(STATS_PATH, self.reset)
        app.router.add_get(PROCESS_PATH, self.process)
        app.router.add_route("*", "/{tail:.*}", self.notify)
        return app

    # Endpoints -----------------------------------------------------------------------------

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.as_json())

    async def process(self, request: web.Request) -> web.Response:
        """What this integrator believes about a process: for `check --verify-url`."""
        view = self.state.processes.get(request.match_info["id"])
        if view is None:
            return _json_error(404, "unknown process")
        return web.json_response(view)

    async def reset(self, request: web.Request) -> web.Response:
        # A reset of the counters must not log every caller out.
        self.state = ReceiverState(tokens=self.state.tokens)
        return web.json_response(self.state.as_json())

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
            request.method,
            request.path,
            response.status,
            note,
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
            reason = f"Content-Type must be application/json, got {request.content_type}"
            return _json_error(400, reason), reason
        try:
            accepted = validate(json.loads(await request.read()))
        except (InvalidPayload, ValueError) as exc:
            state.invalid_payload += 1
            reason = f"invalid payload: {exc}"
            return _json_error(400, reason), reason
        key = (accepted.process_id, accepted.key)
        deliveries = state.seen[key] = state.seen.get(key, 0) + 1
        label = f"{accepted.flow} {accepted.process_id} {accepted.key}"
        if cfg.status is not None and not 200 <= cfg.status < 300:
            state.injected_failures += 1
            return _json_error(cfg.status, "injected status"), f"{label} injected {cfg.status}"
        if deliveries <= cfg.fail_first or (cfg.fail_rate and self._rng.random() < cfg.fail_rate):
            state.injected_failures += 1
            return _json_error(500, "injected failure"), f"{label} injected failure"
        flawed = self._flawed(accepted, key in state.delivered)
        if flawed is not None:
            return _json_error(flawed, "flaw"), f"{label} flaw {flawed}"
        state.accepted += 1
        state.unknown += accepted.unknown
        state.extra_fields += bool(accepted.extra_fields)
        if key in state.delivered:
            state.duplicates += 1
            label += " duplicate"
        state.delivered.add(key)
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
        current = self.state.processes.get(accepted.process_id)
        if (
            current is not None
            and "regress" not in self.config.flaws
            and current.get("status") in FINAL_STATUSES
            and accepted.status not in FINAL_STATUSES
        ):
            return  # a late "in divergence" must not undo "completed"
        if accepted.flow == "by-client":
            view: dict[str, Any] = {"id": accepted.process_id, "status": accepted.status}
        else:
            view = {
                "id": accepted.process_id,
                "state": accepted.status,
                "result": accepted.result,
            }
        self.state.processes[accepted.process_id] = view

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
    runner: web.AppRunner
    url: str

    @property
    def state(self) -> ReceiverState:
        return self.sandbox.state

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_receiver(
    config: ReceiverConfig, *, host: str = "127.0.0.1", port: int = 0
) -> RunningReceiver:
    """Start the sandbox on `host:port` (0: a free port) and return where it listens."""
    sandbox = Sandbox(config)
    runner = web.AppRunner(sandbox.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    await site.start()
    sockets = runner.addresses
    bound_port = sockets[0][1] if sockets else port
    return RunningReceiver(sandbox, runner, f"http://{host}:{bound_port}")


async def serve_forever(config: ReceiverConfig, host: str, port: int) -> None:
    running = await start_receiver(config, host=host, port=port)
    # Printed even with --quiet: scripts (and the tests) read the URL from this first line.
    extra = f", token endpoint {running.url}{TOKEN_PATH}" if config.auth == "oauth2" else ""
    print(
        f"sandbox receiver listening on {running.url} (auth {config.auth}{extra})",
        file=sys.stderr,
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await running.close()
