"""`webhook-sim demo`: the whole contract on loopback, against sandbox receivers in-process.

Each case is one small run of the real engine against a real sandbox receiver; the demo checks
its own outcome, so `make demo` fails loudly if the contract stops working end to end.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from .auth import Auth, from_settings
from .credentials import split_api_key
from .engine import Engine, EngineOptions, Outcome
from .payloads import PayloadFactory, notification
from .receiver import ReceiverConfig, RunningReceiver, start_receiver
from .report import Trace, describe_attempt
from .settings import AuthSettings, Settings

BASIC = "integrator:s3cret-pass"
API_KEY_HEADER = "X-API-Key:demo-key-123"
API_KEY_VALUE = "demo-key-456"
CLIENT_ID, CLIENT_SECRET = "demo-client", "demo-client-secret"


@dataclass(frozen=True)
class Case:
    title: str
    receiver: str  # which sandbox receives it
    settings: dict[str, Any]
    payloads: tuple[dict[str, Any], ...]
    expected: Outcome
    repeat: bool = False  # send the same notification twice (at-least-once delivery)


@dataclass(frozen=True)
class CaseResult:
    case: Case
    flow: str
    auth: str
    payload: dict[str, Any]
    attempts: tuple[str, ...]
    outcome: Outcome
    latency_ms: float

    @property
    def as_expected(self) -> bool:
        return self.outcome == self.case.expected


RECEIVERS: dict[str, dict[str, Any]] = {
    "none": {"auth": "none"},
    "basic": {"auth": "basic", "basic": BASIC},
    "api-key header": {"auth": "api-key", "api_key": API_KEY_HEADER},
    "api-key value": {"auth": "api-key", "api_key": API_KEY_VALUE},
    "oauth2": {"auth": "oauth2", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    "flaky": {"auth": "none", "fail_first": 2},
}


def cases(factory: PayloadFactory) -> list[Case]:
    oauth = {
        "type": "oauth2",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token_url": "{oauth2}/oauth/token",
    }
    unico = factory.by_unico
    client = factory.by_client
    return [
        Case("by-Unico, result ok", "none", {}, (unico(result="ok"),), "delivered"),
        Case(
            "by-Unico, minimal profile",
            "basic",
            {"auth": {"type": "basic", "basic": BASIC}, "payload_profile": "minimal"},
            (unico(profile="minimal"),),
            "delivered",
        ),
        Case(
            "by-Client, status 3 (completed)",
            "api-key header",
            {"flow": "by-client", "auth": {"type": "api-key", "api_key": API_KEY_HEADER}},
            (client(status=3),),
            "delivered",
        ),
        Case(
            "by-Client, status 4 (canceled)",
            "api-key value",
            {"flow": "by-client", "auth": {"type": "api-key", "api_key": API_KEY_VALUE}},
            (client(status=4),),
            "delivered",
        ),
        Case(
            "by-Unico, result expired",
            "oauth2",
            {"auth": oauth},
            (unico(result="expired"),),
            "delivered",
        ),
        Case(
            "by-Client, status 2 (divergence)",
            "oauth2",
            {"flow": "by-client", "auth": oauth},
            (client(status=2),),
            "delivered",
        ),
        Case(
            "retried: fails twice, then 2xx",
            "flaky",
            {"flow": "by-client"},
            (client(status=5),),
            "delivered",
        ),
        Case(
            "duplicate: sent twice",
            "none",
            {},
            (unico(result="invalid_identity"),),
            "delivered",
            repeat=True,
        ),
        Case(
            "wrong password: exhausted",
            "basic",
            {"auth": {"type": "basic", "basic": "integrator:wrong"}},
            (unico(result="ok"),),
            "exhausted",
        ),
    ]


async def run_demo(seed: int = 7) -> tuple[list[CaseResult], dict[str, dict[str, Any]]]:
    receivers: dict[str, RunningReceiver] = {}
    try:
        for name, config in RECEIVERS.items():
            receivers[name] = await start_receiver(ReceiverConfig.model_validate(config))
        # One auth strategy per credential set, as one platform webhook has: the OAuth2 cases
        # share a token, which the oauth2 receiver's token_requests shows.
        auths: dict[AuthSettings, Auth] = {}
        results = [await _run_case(case, receivers, auths) for case in cases(PayloadFactory(seed))]
        stats = {name: r.state.as_json() for name, r in receivers.items()}
    finally:
        for receiver in receivers.values():
            await receiver.close()
    return results, stats


async def _run_case(
    case: Case, receivers: dict[str, RunningReceiver], auths: dict[AuthSettings, Auth]
) -> CaseResult:
    data: dict[str, Any] = {
        "url": receivers[case.receiver].url + "/webhooks/unico",
        "max_attempts": 3,
        "interval_s": 0.05,
        "timeout_s": 5,
        "concurrency": 1,
        **case.settings,
    }
    auth_data = dict(data.get("auth", {}))
    if "token_url" in auth_data:
        auth_data["token_url"] = auth_data["token_url"].format(oauth2=receivers["oauth2"].url)
        data["auth"] = auth_data
    settings = Settings.model_validate(data)
    plan = [notification(p) for p in case.payloads]
    if case.repeat:
        plan.append(plan[0].again())
    trace = Trace()
    auth = auths.setdefault(settings.auth, from_settings(settings.auth))
    options = EngineOptions(seed=1)
    await Engine(settings, options=options, observer=trace, auth=auth).run(plan)
    attempts = tuple(
        " → ".join(describe_attempt(a) for a in trace.attempts[id(note)]) for note in trace.order
    )
    outcomes = [trace.outcomes[id(note)] for note in trace.order]
    outcome: Outcome = outcomes[0] if len(set(outcomes)) == 1 else "exhausted"
    latencies = [a.latency_s for note in trace.order for a in trace.attempts[id(note)]]
    auth_label: str = settings.auth.type
    if settings.auth.api_key is not None:
        header = split_api_key(settings.auth.api_key.get_secret_value())[0]
        auth_label += f" ({header})"
    return CaseResult(
        case,
        settings.flow,
        auth_label,
        case.payloads[0],
        attempts,
        outcome,
        1000 * max(latencies),
    )


RECEIVER_COLUMNS = ("received", "accepted", "rejected_auth", "duplicates", "injected_failures",
                    "token_requests")  # fmt: skip


def tables(results: Sequence[CaseResult], stats: Mapping[str, Mapping[str, Any]]) -> list[Table]:
    """The demo's outcome for the console: each notification, and what the receivers counted."""
    notes = Table(title="notifications", title_justify="left")
    for column in ("#", "case", "flow", "auth", "payload sent", "attempts", "outcome", "ok"):
        notes.add_column(column, overflow="fold")
    for number, row in enumerate(results, 1):
        notes.add_row(
            str(number),
            row.case.title,
            row.flow,
            row.auth,
            json.dumps(row.payload, separators=(",", ":")),
            "\n".join(row.attempts),
            row.outcome,
            "[green]✓[/green]" if row.as_expected else "[red]✗ expected " + row.case.expected,
        )
    counted = Table(title="what the sandbox receivers counted (GET /_stats)", title_justify="left")
    counted.add_column("receiver")
    for column in RECEIVER_COLUMNS:
        counted.add_column(column, justify="right")
    for name, counts in stats.items():
        counted.add_row(name, *(str(counts[c]) for c in RECEIVER_COLUMNS))
    return [notes, counted]


def verdict(results: Sequence[CaseResult]) -> tuple[str, int]:
    """The demo's last line, and its exit code: 0 only when every case ended as expected."""
    failed = [r for r in results if not r.as_expected]
    if failed:
        return f"[red]{len(failed)} case(s) did not end as expected[/red]", 1
    return "[green]all cases ended as expected[/green]", 0
