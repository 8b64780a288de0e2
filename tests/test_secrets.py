"""Every kind of secret, through every output: console, error messages, JSON, JUnit, HTML.

The receiver here echoes every header it gets (and the OAuth2 token it was sent) back in its
error body, as a careless receiver does: whatever the sender prints of that answer must still
show `***`, never the secret.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from dispatcher.cli import main

from .helpers import serving

BASIC = "alice:Pw-basic-9d2"
API_KEY = "X-API-Key: Key-api-5e1"  # a space after the colon escaped redaction before
CLIENT_SECRET = "Cs-oauth-3b8"
TOKEN = "TOK-echoed-7f3a9c0d"
SECRET_HEADER = "X-Sig:Sig-hdr-2c4"
TOKEN_HEADER = "X-Tenant-Token:Tok-hdr-8a6"  # a credential by its name, given with plain -H
URL_PASSWORD = "Pw-url-1f7"
SECRETS = (
    "Pw-basic-9d2", base64.b64encode(BASIC.encode()).decode(), "Key-api-5e1", CLIENT_SECRET,
    TOKEN, "Sig-hdr-2c4", "Tok-hdr-8a6", URL_PASSWORD,
)  # fmt: skip


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    """A receiver on its own thread that answers 400 with every request header echoed."""
    ready = threading.Event()
    box: dict[str, object] = {}

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": TOKEN, "token_type": "Bearer"})

    async def hook(request: web.Request) -> web.Response:
        echoed = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
        return web.Response(status=400, text=f"bad request, you sent {echoed}")

    async def cut(request: web.Request) -> web.Response:
        """The credential starts just before the 200 characters an excerpt keeps."""
        credential = request.headers.get("Authorization") or request.headers.get("X-API-Key")
        return web.Response(status=400, text="x" * 192 + str(credential).split(" ")[-1])

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/token", token)
        app.router.add_post("/hook", hook)
        app.router.add_post("/cut", cut)
        async with serving(app) as url:
            box["url"] = url
            stop = asyncio.Event()
            box["stop"] = (asyncio.get_running_loop(), stop)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(60)
    yield str(box["url"])
    loop, stop = box["stop"]  # type: ignore[misc]
    loop.call_soon_threadsafe(stop.set)
    thread.join(60)


AUTHS = {
    "basic": ["--basic", BASIC],
    "api-key": ["--api-key", API_KEY],
    "oauth2": ["--client-id", "cid", "--client-secret", CLIENT_SECRET],
}


@pytest.mark.e2e  # send, run, check and load (with its worker process) in turn
@pytest.mark.parametrize("auth", list(AUTHS))
def test_no_secret_reaches_any_output(
    echo: str, auth: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = echo + "/hook"
    common = [*AUTHS[auth], "-H", TOKEN_HEADER, "--secret-header", SECRET_HEADER]
    if auth == "oauth2":
        common += ["--token-url", echo + "/token"]
    files = {name: tmp_path / name for name in ("run.json", "check.json", "check.xml",
                                                "load.json", "load.html")}  # fmt: skip
    runs = [
        ["send", "--url", url, "--max-attempts", "2", "--interval", "0.01", *common],
        ["run", "--url", url, "--count", "3", "--max-attempts", "1", *common,
         "--report-json", str(files["run.json"])],
        ["check", "--url", url, "--only", "accepts-notified-statuses", "--only",
         "rejects-bad-credentials", *common, "--report-json", str(files["check.json"]),
         "--junit", str(files["check.xml"])],
        ["load", "--url", url, "--rate", "20", "--duration", "0.2", "--workers", "1",
         "--max-attempts", "1", *common, "--report-json", str(files["load.json"]),
         "--report-html", str(files["load.html"])],
        ["send", "--url", echo + "/cut", "--max-attempts", "1", *common],
        # Bad input that carries a secret: the one-line error must not show it.
        ["run", "--url", url, *common, "--count", "0"],
    ]  # fmt: skip
    outputs = []
    for argv in runs:
        main(argv)
        out, err = capsys.readouterr()
        outputs.append(f"$ {argv[0]}\n{out}{err}")
    everything = "\n".join(outputs) + "".join(p.read_text() for p in files.values())
    assert "bad request, you sent" in everything  # the echo really reached the outputs
    leaked = [s for s in SECRETS if s in everything]
    assert leaked == [], leaked
    # Nor a piece of one: an excerpt cut across a secret must not keep its first characters.
    pieces = [s[:6] for s in SECRETS if s[:6] in everything]
    assert pieces == [], pieces


def test_url_credentials_are_refused_without_showing_them(
    echo: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = echo.replace("http://", f"http://bob:{URL_PASSWORD}@") + "/hook"
    assert main(["send", "--url", url]) == 2
    _, err = capsys.readouterr()
    assert "--basic" in err
    assert URL_PASSWORD not in err


@pytest.mark.parametrize(
    "echoed",
    [
        '{"got": "Pa\\"ss/w0rd!"}',  # inside a JSON string
        "url=Pa%22ss%2Fw0rd%21",  # percent-encoded
        "form=Pa%22ss%2Fw0rd%21&x=1",
        "<p>Pa&quot;ss/w0rd!</p>",  # HTML-escaped
        'plain Pa"ss/w0rd! text',
    ],
)
def test_a_secret_echoed_encoded_is_masked(echoed: str) -> None:
    """A receiver that echoes the password back in its error body, escaped for JSON, a URL or
    HTML: the outcome samples, the console and the log show *** all the same."""
    from dispatcher.redact import Redactor

    redactor = Redactor()
    redactor.add('Pa"ss/w0rd!')
    scrubbed = redactor.scrub(echoed)
    assert "w0rd" not in scrubbed
    assert "***" in scrubbed
