"""The platform's API on loopback: token, CreateProcess, GetProcess for both integration
methods, plus `/_platform/*` control and inspection endpoints. Notifications leave through the
same engine as `run` (cap, retries, throttle).

This module is the routes and their wiring; what a request body must hold is in `bodies`, what
GetProcess answers in `views`, the error shapes in `dispatcher.httpjson`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ..delivery import AttemptResult
from ..engine import Engine, EngineOptions, Outcome
from ..httpjson import json_error, platform_error
from ..metrics import Metrics
from ..payloads import Notification
from ..receiver.quietlog import one_line_logger
from ..receiver.serving import (
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_READ_TIMEOUT_S,
    Served,
    ServerLimits,
    fit_connections,
    guard_middleware,
    serve,
)
from ..receiver.validate import parse_json, printable
from ..settings import Settings
from ..tokens import TokenStore
from .assertion import GRANT_TYPE, InvalidAssertion, check_assertion
from .bodies import Invalid, json_object, validate_client_create, validate_unico_create
from .keys import FLAG as KEY_FLAG
from .keys import load_keys
from .views import client_view, unico_view
from .world import Mix, OutageMode, Process, World

Handler = Callable[[web.Request], Awaitable[web.Response]]
log = logging.getLogger("webhook_sim.platform")
# CreateProcess carries a selfie as base64.
MAX_BODY_BYTES = 8 * 1024 * 1024
UNVERIFIED = f"signatures NOT verified: no {KEY_FLAG}"


class PlatformConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token_ttl_s: int = Field(3600, ge=1, le=86400)
    audience: str | None = None  # the identity host the assertion's aud must name
    apikey: str | None = None  # the APIKEY by-Client calls must send (None: any non-empty)
    finish_after: tuple[float, float] = (2.0, 2.0)  # seconds, drawn uniformly
    outages: tuple[tuple[float, float], ...] = ()  # (start, duration) from platform start
    outage_mode: OutageMode = "drop"
    seed: int | None = None
    duplicates: float = Field(0.0, ge=0, le=1)  # a notification sent again, a little later
    reorder: float = Field(0.0, ge=0, le=1)  # a by-Client 2 sent after its 3
    unico_mix: tuple[tuple[str, float], ...] | None = None
    client_mix: tuple[tuple[tuple[int, ...], float], ...] | None = None
    # Public keys (PEM or JWKS files) the assertion's signature must verify with; none: the
    # signature is not checked, and every token answer says so.
    service_account_keys: tuple[Path, ...] = ()
    # None: DEFAULT_MAX_CONNECTIONS, fitted under the open-file limit beside the engine's own
    # outgoing connections (serving.fit_connections).
    max_connections: int | None = Field(None, ge=1, le=1_000_000)
    read_timeout_s: float = Field(DEFAULT_READ_TIMEOUT_S, gt=0, le=3600)
    idle_timeout_s: float = Field(DEFAULT_IDLE_TIMEOUT_S, gt=0, le=86400)


class _Bridge:
    """Engine observer that tells the world what became of each notification."""

    def __init__(self, world: World) -> None:
        self.world = world

    def on_attempt(
        self, note: Notification, result: AttemptResult, retry_in_s: float | None
    ) -> None:
        self.world.attempt(note, result.outcome, result.latency_s)

    def on_final(self, note: Notification, outcome: Outcome, attempts: int) -> None:
        self.world.final(note, outcome)


class Platform:
    def __init__(self, settings: Settings, config: PlatformConfig) -> None:
        self.config = config
        self.engine = Engine(settings, options=EngineOptions(seed=config.seed))
        self.feed = self.engine.live_feed()
        mix = Mix()
        mix = Mix(config.unico_mix or mix.unico, config.client_mix or mix.client)
        self._rng = random.Random(config.seed)
        self.world = World(
            notify=self._notify,
            clock=time.time,
            finish_after=config.finish_after,
            mix=mix,
            seed=config.seed,
            reorder=config.reorder,
        )
        self.engine.observer = _Bridge(self.world)
        self.tokens = TokenStore()
        self._timers: set[asyncio.TimerHandle] = set()
        self.keys = load_keys(config.service_account_keys)
        self.settings = settings
        self.server: Served | None = None  # set once serving

    def limits(self) -> ServerLimits:
        cfg = self.config
        # The engine's notifications need descriptors too: up to `concurrency` at once.
        cap, _ = fit_connections(cfg.max_connections, outgoing=self.settings.concurrency)
        return ServerLimits(
            max_connections=cap,
            read_timeout_s=cfg.read_timeout_s,
            idle_timeout_s=cfg.idle_timeout_s,
            max_body_bytes=MAX_BODY_BYTES,
        )

    def app(self, limits: ServerLimits | None = None) -> web.Application:
        guard = guard_middleware(limits or self.limits(), platform_error)
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[guard])
        r = app.router
        r.add_post("/oauth2/token", self.token)
        r.add_post("/client/v1/process", self._authed(self.create_unico))
        r.add_get("/client/v1/process/{id}", self._authed(self.get_unico))
        r.add_post("/processes/v1", self._authed(self.create_client, apikey=True))
        r.add_get("/processes/v1/{id}", self._authed(self.get_client, apikey=True))
        r.add_get("/_platform/processes", self.list_processes)
        r.add_post("/_platform/outage", self.outage)
        return app

    def _notify(self, note: Notification) -> None:
        self.feed.put(note)
        if self.config.duplicates and self._rng.random() < self.config.duplicates:
            # At-least-once delivery: the same notification once more, a little later.
            def again() -> None:
                if not self.feed.closed:
                    self.world.duplicated(note)
                    self.feed.put(note.again())

            self._later(self._rng.uniform(0.05, 1.0), again)

    # Timers: the only things that happen by themselves ------------------------------------------

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        def run() -> None:
            self._timers.discard(handle)
            callback()

        handle = asyncio.get_running_loop().call_later(delay, run)
        self._timers.add(handle)

    def schedule_outages(self) -> None:
        for start, duration in self.config.outages:
            self._later(start, lambda: self.world.start_outage(self.config.outage_mode))
            self._later(start + duration, self._end_outage)

    def _end_outage(self) -> None:
        self.world.end_outage()

    def _progress(self, process: Process) -> None:
        if self.world.advance(process):
            self._later(self.world.delay(), lambda: self._progress(process))

    def cancel_timers(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()

    # Auth -----------------------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        # Said on every answer, so nobody reads a 200 here as proof that their key is right.
        checked = f"{len(self.keys)} key(s)" if self.keys else UNVERIFIED
        if form.get("grant_type") != GRANT_TYPE:
            log.info("POST /oauth2/token 400 unsupported_grant_type (%s)", checked)
            return json_error(400, "unsupported_grant_type", description=f"use {GRANT_TYPE}")
        try:
            grant = check_assertion(
                str(form.get("assertion", "")),
                now=time.time(),
                audience=self.config.audience,
                keys=self.keys,
            )
        except InvalidAssertion as exc:
            log.info("POST /oauth2/token 400 invalid_grant: %s (%s)", exc, checked)
            return json_error(400, "invalid_grant", description=str(exc))
        token = self.tokens.issue(self.config.token_ttl_s)
        verdict = "signature verified" if grant.verified else UNVERIFIED
        log.info("POST /oauth2/token 200 iss=%s (%s)", printable(grant.issuer), verdict)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.config.token_ttl_s}
        )

    def _authed(self, handler: Handler, *, apikey: bool = False) -> Handler:
        async def guarded(request: web.Request) -> web.Response:
            problem = self.tokens.problem(request.headers.get("Authorization", ""))
            if problem is not None:
                return platform_error(401, problem)
            if apikey:
                key = request.headers.get("APIKEY", "")
                if not key or (self.config.apikey is not None and key != self.config.apikey):
                    return platform_error(401, "missing or wrong APIKEY header")
            return await handler(request)

        return guarded

    # CreateProcess / GetProcess -------------------------------------------------------------------

    async def _body(self, request: web.Request) -> Any:
        try:
            return parse_json(await request.read())
        except ValueError as exc:
            raise Invalid(f"the body is not JSON ({exc})") from None

    async def create_unico(self, request: web.Request) -> web.Response:
        try:
            body = validate_unico_create(await self._body(request))
        except Invalid as exc:
            return platform_error(400, str(exc))
        process = self._create("by-unico", body)
        base = f"{request.scheme}://{request.host}"
        return web.json_response(
            {"process": unico_view(process), "userRedirectUrl": f"{base}/journey/{process.id}"}
        )

    async def create_client(self, request: web.Request) -> web.Response:
        try:
            body = validate_client_create(await self._body(request))
        except Invalid as exc:
            return platform_error(400, str(exc))
        body = {k: v for k, v in body.items() if k != "imageBase64"}  # no need to keep images
        process = self._create("by-client", body)
        return web.json_response({"id": process.id, "status": 1})

    def _create(self, flow: str, body: dict[str, Any]) -> Process:
        process = self.world.create(flow, body)
        self._later(self.world.delay(), lambda: self._progress(process))
        return process

    def _find(self, request: web.Request, flow: str) -> Process | web.Response:
        process = self.world.processes.get(request.match_info["id"])
        if process is None or process.flow != flow:
            return platform_error(404, f"no process {request.match_info['id']}")
        self.world.polled(process)
        return process

    async def get_unico(self, request: web.Request) -> web.Response:
        found = self._find(request, "by-unico")
        if isinstance(found, web.Response):
            return found
        return web.json_response({"process": unico_view(found)})

    async def get_client(self, request: web.Request) -> web.Response:
        found = self._find(request, "by-client")
        if isinstance(found, web.Response):
            return found
        return web.json_response(client_view(found))

    # Control and inspection -----------------------------------------------------------------------

    async def list_processes(self, request: web.Request) -> web.Response:
        return web.json_response(self.report())

    async def outage(self, request: web.Request) -> web.Response:
        try:
            body = json_object(await self._body(request), "the body")
        except Invalid as exc:
            return platform_error(400, str(exc))
        action, mode = body.get("action"), body.get("mode", self.config.outage_mode)
        if action == "start" and mode in ("drop", "delay"):
            self.world.start_outage(mode)
            return web.json_response({"outage": mode})
        if action == "end":
            released = self.world.end_outage()
            return web.json_response({"outage": None, "released": released})
        usage = 'send {"action": "start", "mode": "drop|delay"} or {"action": "end"}'
        return platform_error(400, usage)

    def report(self) -> dict[str, Any]:
        return {
            "outage": self.world.outage,
            "summary": self.world.summary(),
            "assertion_signatures": "verified" if self.keys else "not verified",
            "connections": self.server.gate.as_json() if self.server is not None else None,
            "processes": [p.as_json() for p in self.world.processes.values()],
        }


@dataclass
class RunningPlatform:
    platform: Platform
    served: Served
    url: str
    engine_task: asyncio.Task[Metrics]

    @property
    def world(self) -> World:
        return self.platform.world

    async def close(self, grace_s: float = 5.0) -> None:
        """Stop the API, stop finishing processes, let queued notifications finish (up to
        `grace_s`), stop. In that order: nothing may add a notification once the feed closes."""
        await self.served.close()
        self.platform.cancel_timers()
        self.platform.feed.close()
        try:
            async with asyncio.timeout(grace_s):
                await asyncio.shield(self.engine_task)
        except TimeoutError:
            self.platform.engine.stop(now=True)
            await self.engine_task


async def start_platform(
    settings: Settings, config: PlatformConfig, *, host: str = "127.0.0.1", port: int = 0
) -> RunningPlatform:
    platform = Platform(settings, config)
    if not platform.keys:
        log.warning("platform: JWT assertion %s (claims are checked, the signature is not)",
                    UNVERIFIED)  # fmt: skip
    limits = platform.limits()
    _, lowered = fit_connections(config.max_connections, outgoing=settings.concurrency)
    if lowered is not None:
        log.warning("platform: %s", lowered)
    served = await serve(platform.app(limits), host, port, limits, one_line_logger(log.name))
    platform.server = served
    engine_task = asyncio.create_task(platform.engine.run(platform.feed))
    platform.schedule_outages()
    return RunningPlatform(platform, served, served.url, engine_task)
