"""The check that a receiver refuses whom it does not know: no credentials, and credentials
that look right and are not (a wrong password, a wrong key, a token nobody issued)."""

from __future__ import annotations

from ..auth import Auth, NoAuth
from ..credentials import BasicCredentials
from ..payloads import notification
from ..settings import AuthSettings
from ..transport import Transport
from .core import CheckContext, Findings, Skipped, check
from .sending import send

WRONG_PASSWORD = "webhook-sim-wrong-password"


class _Forged:
    """Credentials that look right and are not: the receiver must refuse them."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    async def headers(self, transport: Transport) -> dict[str, str]:
        return dict(self._headers)

    def unauthorized(self, sent: dict[str, str]) -> bool:
        return False


def _wrong_credentials(auth: AuthSettings) -> tuple[str, Auth]:
    basic, key = auth.basic_credentials(), auth.api_key_credentials()
    if auth.type == "basic" and basic is not None:
        wrong = BasicCredentials(basic.user, WRONG_PASSWORD)
        return "a wrong password", _Forged({"Authorization": wrong.header()})
    if auth.type == "api-key" and key is not None:
        return f"a wrong {key.header}", _Forged({key.header: "webhook-sim-wrong-key"})
    return "a bearer token the provider never issued", _Forged(
        {"Authorization": "Bearer webhook-sim-forged-token"}
    )


@check(
    "rejects-bad-credentials",
    "answers 401 or 403 to a request with no credentials and to one with wrong credentials",
    needs="an actual 401 or 403 HTTP answer to each of the two requests",
)
async def rejects_bad_credentials(ctx: CheckContext) -> Findings:
    if ctx.settings.auth.type == "none":
        raise Skipped("auth type is none: there are no credentials to get wrong")
    f = ctx.factory()
    found = Findings()
    wrong_label, wrong = _wrong_credentials(ctx.settings.auth)
    for label, auth in (("no credentials", NoAuth()), (wrong_label, wrong)):
        sent = await send(ctx, [notification(f.single(ctx.settings.flow))], auth=auth)
        for note, result in sent.results():
            found.evidence.append(sent.describe(note, result, label))
            if result.status is None:
                found.missing.append(
                    f"with {label} it got no HTTP answer ({result.outcome}), and a connection "
                    "that fails is not a rejection"
                )
            elif result.status in (401, 403):
                found.support += 1
            else:
                found.problems.append(
                    f"with {label} it answered {result.outcome}, expected 401 or 403"
                )
    return found
