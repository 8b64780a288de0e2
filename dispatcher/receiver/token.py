"""The sandbox receiver's OAuth2 provider: the token endpoint of RFC 6749 section 4.4 (client
credentials), taking the client's credentials either way the RFC allows: client_secret_basic
(an Authorization: Basic header) or client_secret_post (form fields)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from ..credentials import BASIC, OAuth2Client, decode_basic_header
from ..httpjson import json_error
from .config import ReceiverConfig
from .state import ReceiverState

log = logging.getLogger("webhook_sim.receiver")

TOKEN_PATH = "/oauth/token"


async def token_endpoint(
    request: web.Request, config: ReceiverConfig, state: ReceiverState
) -> web.Response:
    state.token_requests += 1
    client = config.oauth2_client()
    if client is None:
        return json_error(404, "this receiver is not configured for oauth2")
    form = await request.post()
    if form.get("grant_type") != "client_credentials":
        return json_error(400, "unsupported_grant_type")
    presented = presented_client(request.headers.get("Authorization", ""), form)
    if presented is None or not client.matches(presented):
        log.info("POST %s 401 invalid_client", TOKEN_PATH)
        return json_error(401, "invalid_client", challenge="Basic")
    token = state.tokens.issue(config.token_ttl_s)
    state.tokens_issued += 1
    log.info("POST %s 200 token issued (ttl %ss)", TOKEN_PATH, config.token_ttl_s)
    return web.json_response(
        {"access_token": token, "token_type": "Bearer", "expires_in": config.token_ttl_s},
        headers={"Cache-Control": "no-store"},
    )


def presented_client(authorization: str, form: Any) -> OAuth2Client | None:
    """The client a token request names, or None when it names none or a malformed one."""
    if authorization.startswith(BASIC):
        # A malformed Basic header is refused, not passed over for the form.
        basic = decode_basic_header(authorization)
        return None if basic is None else OAuth2Client(basic.user, basic.password)
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    if not client_id:
        return None
    return OAuth2Client(str(client_id), str(client_secret) if client_secret else "")
