"""Every auth type end to end against the sandbox receiver, which is also the OAuth2 provider."""

from __future__ import annotations

import pytest

import dispatcher.auth
from dispatcher.auth import OAuth2ClientCredentials
from dispatcher.credentials import split_api_key
from dispatcher.payloads import PayloadFactory, notification

from .conftest import StartReceiver
from .helpers import deliver, outcomes, settings


@pytest.mark.parametrize(
    ("spec", "header"),
    [
        ("X-API-Key:abc123", ("X-API-Key", "abc123")),
        ("abc123", ("Authorization", "abc123")),
        ("X-API-Key:a:b:c", ("X-API-Key", "a:b:c")),
        ("Authorization:Bearer xyz", ("Authorization", "Bearer xyz")),
        ("Token abc", ("Authorization", "Token abc")),
        ("X-Key: spaced ", ("X-Key", "spaced")),
    ],
)
def test_api_key_splits_on_the_first_colon(spec: str, header: tuple[str, str]) -> None:
    assert split_api_key(spec) == header


@pytest.mark.parametrize(
    ("expect", "send"),
    [
        ({"auth": "none"}, {}),
        ({"auth": "basic", "basic": "u:p@ss:word"}, {"auth": {"basic": "u:p@ss:word"}}),
        ({"auth": "api-key", "api_key": "X-API-Key:k:1"}, {"auth": {"api_key": "X-API-Key:k:1"}}),
        ({"auth": "api-key", "api_key": "raw-key"}, {"auth": {"api_key": "raw-key"}}),
    ],
)
async def test_static_auth_end_to_end(
    receiver: StartReceiver, expect: dict[str, str], send: dict[str, dict[str, str]]
) -> None:
    r = await receiver(**expect)
    if "auth" in send:
        kind = "basic" if "basic" in send["auth"] else "api-key"
        send = {"auth": {"type": kind, **send["auth"]}}
    m, _ = await deliver(settings(r.url, **send))
    assert m.delivered == 1
    assert r.state.as_json()["accepted"] == 1
    assert r.state.rejected_auth == 0


@pytest.mark.parametrize(
    ("expect", "auth"),
    [
        ({"auth": "basic", "basic": "u:right"}, {"type": "basic", "basic": "u:wrong"}),
        ({"auth": "basic", "basic": "u:right"}, {"type": "none"}),
        ({"auth": "api-key", "api_key": "X-K:right"}, {"type": "api-key", "api_key": "X-K:no"}),
        ({"auth": "api-key", "api_key": "X-K:right"}, {"type": "api-key", "api_key": "right"}),
    ],
)
async def test_wrong_credentials_exhaust_after_max_attempts(
    receiver: StartReceiver, expect: dict[str, str], auth: dict[str, str]
) -> None:
    r = await receiver(**expect)
    m, trace = await deliver(settings(r.url, auth=auth, max_attempts=3))
    assert outcomes(trace) == [["401"] * 3]
    assert m.exhausted == 1
    assert r.state.rejected_auth == 3


def oauth(r_url: str, **extra: str) -> dict[str, str]:
    return {
        "type": "oauth2",
        "token_url": r_url + "/oauth/token",
        "client_id": "cid",
        "client_secret": "csecret",
        **extra,
    }


@pytest.mark.parametrize("client_auth", ["basic", "post"])
async def test_oauth2_end_to_end(receiver: StartReceiver, client_auth: str) -> None:
    r = await receiver(auth="oauth2", client_id="cid", client_secret="csecret")
    m, _ = await deliver(settings(r.url, auth=oauth(r.url, client_auth=client_auth)))
    assert m.delivered == 1
    assert r.state.token_requests == 1


async def test_one_token_request_for_100_concurrent_sends(receiver: StartReceiver) -> None:
    r = await receiver(auth="oauth2", client_id="cid", client_secret="csecret", latency_ms=20)
    s = settings(r.url, auth=oauth(r.url), concurrency=100)
    f = PayloadFactory(4)
    plan = [notification(f.by_unico()) for _ in range(100)]
    m, _ = await deliver(s, plan)
    assert m.delivered == 100
    assert m.peak_in_flight == 100
    assert r.state.token_requests == 1


class FakeClock:
    """The monotonic clock `dispatcher.auth` reads, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


async def test_token_is_fetched_again_before_it_expires(
    receiver: StartReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(dispatcher.auth, "time", clock)
    r = await receiver(auth="oauth2", client_id="cid", client_secret="csecret")  # expires_in 3600
    s = settings(r.url, auth=oauth(r.url))
    strategy = OAuth2ClientCredentials(r.url + "/oauth/token", "cid", "csecret")
    await deliver(s, auth=strategy)
    clock.now += 3600 - dispatcher.auth.MAX_LEEWAY_S - 1  # just short of the renewal margin
    await deliver(s, auth=strategy)
    assert r.state.token_requests == 1  # still fresh: cached
    clock.now += 2  # inside the margin: the token has not expired, and is renewed now
    m, _ = await deliver(s, auth=strategy)
    assert m.delivered == 1
    assert r.state.token_requests == 2
    assert r.state.rejected_auth == 0  # renewed before it expired, never sent stale


async def test_401_fetches_a_new_token_once(receiver: StartReceiver) -> None:
    r = await receiver(auth="oauth2", client_id="cid", client_secret="csecret")
    s = settings(r.url, auth=oauth(r.url), max_attempts=1)
    strategy = OAuth2ClientCredentials(r.url + "/oauth/token", "cid", "csecret")
    await deliver(s, auth=strategy)
    r.state.tokens.clear()  # the provider forgets every token it issued (a key rotation)
    m, trace = await deliver(s, auth=strategy)
    assert m.delivered == 1
    assert trace.attempts[id(trace.order[0])][0].reauthenticated
    assert r.state.token_requests == 2
    assert r.state.rejected_auth == 1


async def test_wrong_client_secret_is_a_token_failure_shared_by_concurrent_sends(
    receiver: StartReceiver,
) -> None:
    r = await receiver(auth="oauth2", client_id="cid", client_secret="csecret")
    # No jitter: the 50 retries are due at one instant, whatever the machine's load.
    s = settings(
        r.url, auth=oauth(r.url, client_secret="nope"), max_attempts=2, concurrency=50, jitter=0
    )
    f = PayloadFactory(4)
    m, trace = await deliver(s, [notification(f.by_client()) for _ in range(50)])
    assert m.exhausted == 50
    assert m.by_outcome == {"token": 100}
    # 50 sends arrive together for each of 2 attempts: far fewer fetches than sends.
    assert r.state.token_requests <= 2 * 2
    assert "nope" not in str(trace.attempts)
    assert "csecret" not in str(trace.attempts)


@pytest.mark.e2e  # a fresh interpreter
def test_the_other_side_of_the_wire_imports_no_sending_code() -> None:
    """The receiver and the platform mock parse credentials with the same functions as the
    sender (dispatcher.credentials) but never load the sender's client or auth flows."""
    import subprocess
    import sys

    code = (
        "import sys, dispatcher.receiver.app, dispatcher.receiver.validate\n"
        "client = {'dispatcher.auth', 'dispatcher.transport', 'dispatcher.leanhttp', 'authlib'}\n"
        "print(sorted(m for m in sys.modules if m in client))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
