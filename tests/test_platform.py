"""Platform mode with a small integrator written here: create → webhook → poll on outage."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import dispatcher.tokens
from dispatcher.checks.suite import CheckContext, run_checks
from dispatcher.cli import main
from dispatcher.platform.api import PlatformConfig, RunningPlatform, start_platform
from dispatcher.platform.assertion import InvalidAssertion, check_assertion
from dispatcher.receiver.validate import validate

from .helpers import settings

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ISSUER = "integrator@tenant.iam.acesso.io"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assertion(**overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "identity.test", "scope": "*", "iat": now, "exp": now + 3600}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    header = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{b64(json.dumps(claims).encode())}"
    signature = KEY.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


@dataclass
class Integrator:
    """What an integrator's app does: create processes, take webhooks, poll when they stop."""

    platform: str
    flow: str
    polling: bool = True
    http: aiohttp.ClientSession | None = None
    token: str = ""
    created: list[str] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    known: dict[str, Any] = field(default_factory=dict)  # final state, from a webhook or a poll
    polled: dict[str, dict[str, Any]] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.token}"}
        if self.flow == "by-client":
            h["APIKEY"] = "integrator-key"
        return h

    async def login(self) -> None:
        assert self.http is not None
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": assertion(),
        }
        async with self.http.post(self.platform + "/oauth2/token", data=form) as resp:
            body = await resp.json()
            assert resp.status == 200, body
            assert body["token_type"] == "Bearer"
            assert body["expires_in"] > 0
            self.token = body["access_token"]

    async def create(self) -> str:
        assert self.http is not None
        if self.flow == "by-unico":
            request = {
                "callbackUri": "https://app.example.test/done",
                "flow": "idlive",
                "purpose": "onboarding",
                "person": {
                    "duiType": "DUI_TYPE_BR_CPF",
                    "duiValue": "73689290074",
                    "friendlyName": "Ana",
                    "notifications": [{"notificationChannel": "NOTIFICATION_CHANNEL_EMAIL"}],
                },
                "expiresIn": "3600s",
            }
            async with self.http.post(
                self.platform + "/client/v1/process", json=request, headers=self.headers()
            ) as resp:
                body = await resp.json()
                assert resp.status == 200, body
                assert body["process"]["state"] == "PROCESS_STATE_CREATED"
                assert body["process"]["result"] == "PROCESS_RESULT_UNSPECIFIED"
                assert body["userRedirectUrl"]
                process_id = body["process"]["id"]
        else:
            request = {
                "subject": {"code": "73689290074", "name": "Ana", "gender": "F"},
                "imageBase64": base64.b64encode(b"\xff\xd8 a selfie").decode(),
            }
            async with self.http.post(
                self.platform + "/processes/v1", json=request, headers=self.headers()
            ) as resp:
                body = await resp.json()
                assert resp.status == 200, body
                assert body["status"] == 1
                process_id = body["id"]
        self.created.append(process_id)
        return process_id

    async def get(self, process_id: str) -> tuple[int, dict[str, Any]]:
        assert self.http is not None
        path = "/client/v1/process/" if self.flow == "by-unico" else "/processes/v1/"
        async with self.http.get(self.platform + path + process_id, headers=self.headers()) as resp:
            return resp.status, await resp.json()

    # The app's own endpoints --------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        validate(body)
        self.webhooks.append(body)
        if "status" in body and body["status"] in (3, 4, 5):
            self.known[body["id"]] = body["status"]
        elif "processId" in body:
            self.known[body["processId"]] = body["result"]
        return web.json_response({"ok": True})

    async def start(self, request: web.Request) -> web.Response:
        return web.json_response({"id": await self.create()})

    async def poll_forever(self) -> None:
        """The fallback: every 100 ms, ask about created processes with no final state yet."""
        while True:
            await asyncio.sleep(0.1)
            if not self.polling:
                continue
            for process_id in [p for p in self.created if p not in self.known]:
                status, body = await self.get(process_id)
                assert status == 200
                self.polled[process_id] = body
                if self.flow == "by-client" and body["status"] in (3, 4, 5):
                    self.known[process_id] = body["status"]
                elif (
                    self.flow == "by-unico" and body["process"]["state"] == "PROCESS_STATE_FINISHED"
                ):
                    self.known[process_id] = body["process"]["result"]


Setup = Callable[..., Awaitable[tuple[RunningPlatform, Integrator, str]]]


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    closers: list[Callable[[], Awaitable[None]]] = []

    async def make(
        flow: str = "by-client", polling: bool = True, **config: Any
    ) -> tuple[RunningPlatform, Integrator, str]:
        integrator = Integrator("", flow, polling)
        app = web.Application()
        app.router.add_post("/webhook", integrator.webhook)
        app.router.add_post("/start", integrator.start)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        app_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        platform = await start_platform(
            settings(app_url + "/webhook", flow=flow, interval_s=0.05),
            PlatformConfig.model_validate({"finish_after": (0.1, 0.3), "seed": 1, **config}),
        )
        integrator.platform = platform.url
        integrator.http = aiohttp.ClientSession()
        poller = asyncio.create_task(integrator.poll_forever())
        await integrator.login()

        async def close() -> None:
            poller.cancel()
            with pytest.raises(asyncio.CancelledError):
                await poller
            assert integrator.http is not None
            await integrator.http.close()
            await platform.close()
            await runner.cleanup()

        closers.append(close)
        return platform, integrator, app_url

    yield make
    for close in closers:
        await close()


async def until(predicate: Callable[[], bool], timeout_s: float = 20) -> None:
    """Wait for a condition that other tasks make true (no fixed sleeps, no timing asserts)."""
    for _ in range(int(timeout_s / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never became true")


async def settled(integrator: Integrator, count: int) -> None:
    await until(lambda: len([p for p in integrator.created if p in integrator.known]) >= count)


async def processes(platform: RunningPlatform) -> dict[str, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(platform.url + "/_platform/processes") as r,
    ):
        body = await r.json()
    return {p["id"]: p for p in body["processes"]} | {"_summary": body["summary"]}


async def test_by_client_webhooks_agree_with_getprocess(setup: Setup) -> None:
    platform, app, _ = await setup("by-client", polling=False)
    ids = [await app.create() for _ in range(8)]
    await settled(app, 8)
    for process_id in ids:
        status, body = await app.get(process_id)
        assert status == 200
        assert body["status"] == app.known[process_id]
        assert set(body) >= {"id", "status"}
        if body["status"] == 3:
            assert body["unicoId"]["result"] in ("yes", "no", "inconclusive")
            assert body["liveness"] in (1, 2)
            assert isinstance(body["government"]["serpro"], int)
    seen = await processes(platform)
    for process_id in ids:
        record = seen[process_id]
        assert all(n["fate"] == "delivered" for n in record["notifications"])
        assert record["get_process_calls"]  # the agreement check above was recorded
        assert record["notifications"][-1]["attempts"][0]["outcome"] == "200"


async def test_by_unico_result_vocabularies_line_up(setup: Setup) -> None:
    _, app, _ = await setup("by-unico", polling=False)
    ids = [await app.create() for _ in range(6)]
    await settled(app, 6)
    names = {"ok": "PROCESS_RESULT_OK", "expired": "PROCESS_RESULT_EXPIRED",
             "invalid_identity": "PROCESS_RESULT_INVALID_IDENTITY"}  # fmt: skip
    for process_id in ids:
        _, body = await app.get(process_id)
        process = body["process"]
        assert process["state"] == "PROCESS_STATE_FINISHED"
        assert process["result"] == names[app.known[process_id]]
        assert set(process) >= {"id", "flow", "state", "result", "createdAt", "finishedAt",
                                "expiresAt", "authenticationInfo"}  # fmt: skip
    assert all(w["state"] == "PROCESS_STATE_FINISHED" for w in app.webhooks)


async def test_dropped_notifications_are_learned_by_polling_only(setup: Setup) -> None:
    platform, app, _ = await setup("by-client")
    async with aiohttp.ClientSession() as http:
        async with http.post(
            platform.url + "/_platform/outage", json={"action": "start", "mode": "drop"}
        ) as resp:
            assert resp.status == 200
        ids = [await app.create() for _ in range(4)]
        await settled(app, 4)
    assert not app.webhooks
    seen = await processes(platform)
    for process_id in ids:
        record = seen[process_id]
        assert {n["fate"] for n in record["notifications"]} == {"dropped"}
        assert record["fallback"]["webhook_missed"] is True
        assert record["fallback"]["polled_after_finish"] is True
        assert record["fallback"]["learned_final_after_s"] is not None
        assert app.polled[process_id]["status"] == app.known[process_id]
    summary = seen["_summary"]
    assert summary["webhook_missed"] == summary["missed_and_polled"] == 4


async def test_delayed_notifications_go_out_when_the_outage_ends(setup: Setup) -> None:
    platform, app, _ = await setup("by-unico", polling=False)
    async with aiohttp.ClientSession() as http:
        start = {"action": "start", "mode": "delay"}
        async with http.post(platform.url + "/_platform/outage", json=start) as resp:
            assert resp.status == 200
        ids = [await app.create() for _ in range(3)]
        world = platform.world
        await until(lambda: all(world.processes[p].finished_at for p in ids))
        assert not app.webhooks
        async with http.post(platform.url + "/_platform/outage", json={"action": "end"}) as resp:
            assert (await resp.json())["released"] == 3
    await settled(app, 3)
    seen = await processes(platform)
    assert all(seen[p]["notifications"][0]["fate"] == "delivered" for p in ids)


async def test_scheduled_outage(setup: Setup) -> None:
    platform, app, _ = await setup("by-client", outages=((0.0, 60.0),))
    await app.create()
    await settled(app, 1)
    assert not app.webhooks
    assert platform.world.outage == "drop"


async def test_bad_requests_get_a_reason_never_a_500(setup: Setup) -> None:
    platform, app, _ = await setup("by-client")
    base = platform.url
    auth = app.headers()
    u, c = "/client/v1/process", "/processes/v1"
    ok_subject = {"code": "1", "name": "x"}
    pid = "8263a268-5388-492a-bca2-28e1ff4a69f0"
    bearer_only = {"Authorization": auth["Authorization"]}
    forged = {"Authorization": "Bearer forged", "APIKEY": "k"}
    cases: list[tuple[str, str, Any, dict[str, str], int, str]] = [
        ("POST", c, {"subject": {"name": "x"}, "imageBase64": "eA=="}, auth, 400, "subject.code"),
        ("POST", c, {"subject": ok_subject}, auth, 400, "imageBase64 is required"),
        ("POST", c, {"subject": ok_subject, "imageBase64": "%%"}, auth, 400, "not base64"),
        ("POST", c, {"subject": "x", "imageBase64": "eA=="}, auth, 400, "subject must be a JSON"),
        ("POST", c, [], auth, 400, "the body must be a JSON object"),
        ("POST", u, {"flow": "id"}, auth, 400, "person must be a JSON object"),
        ("POST", u, {"flow": 3, "person": {}}, auth, 400, "flow must be a non-empty string"),
        ("POST", u, {"flow": "id", "person": {"duiType": "x"}}, auth, 400, "person.duiValue is"),
        ("POST", c, {}, forged, 401, "unknown token"),
        ("POST", c, {}, {"APIKEY": "k"}, 401, "missing bearer token"),
        ("GET", c + "/nope", None, bearer_only, 401, "APIKEY"),
        ("GET", f"{c}/{pid}", None, auth, 404, "no process"),
        ("GET", f"{u}/{pid}", None, auth, 404, "no process"),
        ("POST", "/_platform/outage", {"action": "pause"}, {}, 400, "action"),
    ]  # fmt: skip
    async with aiohttp.ClientSession() as http:
        for method, path, body, headers, status, reason in cases:
            async with http.request(method, base + path, json=body, headers=headers) as resp:
                text = await resp.text()
                assert resp.status == status, (path, text)
                assert reason in text, (path, text)
                if status != 404 or "error" in text:
                    assert json.loads(text)["error"]
        bad_grants = [
            ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
            ({"grant_type": GRANT, "assertion": "x.y"}, "invalid_grant"),
            ({"grant_type": GRANT, "assertion": assertion(extra="1")}, "unexpected claim"),
        ]  # fmt: skip
        for form, reason in bad_grants:
            async with http.post(base + "/oauth2/token", data=form) as resp:
                assert resp.status == 400
                assert reason in await resp.text()


class FakeClock:
    """The monotonic clock token stores read (`dispatcher.tokens`), moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


async def test_expired_api_token_is_refused(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(dispatcher.tokens, "time", clock)
    _, app, _ = await setup("by-client", token_ttl_s=1)
    status, _ = await app.get("8263a268-5388-492a-bca2-28e1ff4a69f0")
    assert status == 404  # the token is good: no such process
    clock.now += 1.1  # past the token's lifetime
    status, body = await app.get("8263a268-5388-492a-bca2-28e1ff4a69f0")
    assert status == 401
    assert body["error"]["message"] == "expired token"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "someone@example.com"}, "iam.acesso.io"),
        ({"iss": ISSUER + "\n"}, "iam.acesso.io"),  # `$` in re.match allows a trailing newline
        ({"iat": True, "exp": int(time.time()) + 60}, "integer seconds"),
        ({"scope": "read"}, "scope"),
        ({"exp": int(time.time()) + 7200}, "at most one hour"),
        ({"iat": int(time.time()) - 4000, "exp": int(time.time()) - 500}, "expired"),
        ({"aud": None}, "missing claim(s) aud"),
    ],
)
def test_assertion_rules(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidAssertion, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_assertion(assertion(**overrides), now=time.time())
    check_assertion(assertion(), now=time.time(), audience="identity.test")
    with pytest.raises(InvalidAssertion, match="aud"):
        check_assertion(assertion(), now=time.time(), audience="other.host")


@pytest.mark.e2e  # a whole fallback-polling check, twice, with its real waits
async def test_fallback_check_passes_for_a_polling_app_and_fails_for_one_that_waits(
    setup: Setup,
) -> None:
    # The app that polls (every 0.1 s) is given 2 s, room enough on a busy machine; the one
    # that never polls fails whatever the limit, so it gets a short one to wait out.
    for polling, within, expected in ((True, 2.0, "passed"), (False, 0.4, "failed")):
        platform, _, app_url = await setup("by-client", polling=polling)
        ctx = CheckContext(
            settings(app_url + "/webhook"),
            platform_url=platform.url,
            fallback_create_url=app_url + "/start",
            fallback_count=3,
            fallback_within_s=within,
            fallback_window_s=5.0,
        )
        [result] = await run_checks(ctx, only=["fallback-polling"])
        assert result.status == expected, result
        if not polling:
            assert "was not polled within 0.4 s" in result.message


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--outage", "30s"], "--outage = '30s': START+DURATION"),
        (["--finish-after", "5s..1s"], "must not go backwards"),
        (["--outage-mode", "pause"], "outage_mode = 'pause'"),
        (["--finish-after", "soon"], "--finish-after = 'soon'"),
        (["--unico-mix", "ok=1,great=2"], "'great' is not a result"),
        (["--client-mix", "3=1,2=1"], "'2' is not a path of statuses"),
        (["--client-mix", "3=x"], "is not NAME=WEIGHT"),
        (["--duplicates", "2"], "duplicates = 2.0"),
        (["--port", "-1"], "--port = -1: must be between 0 and 65535"),
        (["--port", "70000"], "--port = 70000: must be between 0 and 65535"),
    ],
)
def test_platform_bad_input(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code = main(["platform", "--webhook-url", "http://127.0.0.1:9/", *argv])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1, err
    assert expected in err


async def test_reorder_and_duplicates_reach_the_app_and_the_record(setup: Setup) -> None:
    platform, app, _ = await setup(
        "by-client",
        polling=False,
        reorder=1.0,
        duplicates=1.0,
        client_mix=(((2, 3), 1.0),),
    )
    ids = [await app.create() for _ in range(3)]
    await until(lambda: sum(1 for w in app.webhooks) >= 12)  # 2 statuses x 2 copies x 3
    for process_id in ids:
        statuses = [w["status"] for w in app.webhooks if w["id"] == process_id]
        assert statuses.index(3) < statuses.index(2)  # the 2 came late
        _, body = await app.get(process_id)
        assert body["status"] == 3  # GetProcess tells the truth, not the last webhook
    seen = await processes(platform)
    for process_id in ids:
        two, three = seen[process_id]["notifications"]
        assert two["key"] == "2"
        assert two["reordered"] is True
        assert three["reordered"] is False
        assert two["duplicates"] == three["duplicates"] == 1
        assert two["fate"] == three["fate"] == "delivered"
