"""The public Python API: documented as it is, the same options as the command line, typed
results, the project's errors, against a real sandbox receiver on loopback."""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import signal
import typing
from pathlib import Path

import pytest

import webhook_sim
from dispatcher import api
from dispatcher.jobs import params
from dispatcher.receiver import ReceiverConfig, RunningReceiver, start_receiver

from .apidoc import COMMANDS, render

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_docs_api_md_lists_the_public_api_as_it_is() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/api.md is out of date: python -m tests.apidoc > docs/api.md"
    )


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_typed_option_is_an_option_of_its_command(name: str) -> None:
    known = {p.name for p in params.resolve(COMMANDS[name])}
    assert set(typing.get_type_hints(getattr(api, name))) <= known


def test_webhook_sim_is_the_api() -> None:
    assert webhook_sim.check is api.check
    assert set(webhook_sim.__all__) == set(api.__all__)


@pytest.fixture
async def sandbox() -> typing.AsyncIterator[RunningReceiver]:
    r = await start_receiver(ReceiverConfig.model_validate({"auth": "basic", "basic": "u:p"}))
    yield r
    await r.close()


@pytest.mark.e2e  # load runs on real time, one on worker processes
async def test_send_run_check_and_load_return_typed_results(sandbox: RunningReceiver) -> None:
    sent = await api.send(sandbox.url, basic="u:p", seed=1)
    assert (sent.outcome, sent.attempts, sent.delivered) == ("delivered", 1, True)
    ran = await api.run(sandbox.url, basic="u:p", count=20, duplicates=0.2, seed=2)
    n = ran.report.notifications
    assert ran.passed
    assert n.delivered == n.scheduled > 20
    assert ran.report.duplicates_sent == n.scheduled - 20
    checked = await api.check(sandbox.url, basic="u:p", only=["rejects-bad-credentials"])
    assert checked.passed, checked.summary()
    assert [r.name for r in checked.results] == ["rejects-bad-credentials"]
    loaded = await api.load(sandbox.url, basic="u:p", rate=20, duration="1s", workers=1)
    assert loaded.passed
    assert loaded.report.rate.target_per_s == 20


async def test_a_failed_check_says_why_with_its_evidence(sandbox: RunningReceiver) -> None:
    checked = await api.check(sandbox.url, basic="u:wrong", only=["accepts-notified-statuses"])
    assert not checked.passed
    summary = checked.summary()
    assert summary.startswith("FAIL accepts-notified-statuses: ")
    assert "    · " in summary  # the evidence, one line each
    assert summary.endswith("0 passed, 1 failed, 0 skipped")
    assert "wrong" not in summary  # the password given is a secret


async def test_bad_input_is_the_command_lines_one_line_error(sandbox: RunningReceiver) -> None:
    with pytest.raises(webhook_sim.ConfigError, match=r"^--count = 0: "):
        await api.run(sandbox.url, count=0)
    with pytest.raises(webhook_sim.ConfigError, match=r"^cuont=: not an option of this call"):
        await api.run(sandbox.url, cuont=3)  # type: ignore[call-arg]
    with pytest.raises(webhook_sim.ConfigError, match="url is required"):
        await api.send()


def test_the_sync_wrappers_run_without_a_loop_and_refuse_inside_one() -> None:
    with pytest.raises(webhook_sim.ConfigError, match="must be a UUID"):
        webhook_sim.send_sync("http://127.0.0.1:9/", process_id="x")


async def test_a_sync_wrapper_inside_a_running_loop_says_to_await() -> None:
    with pytest.raises(RuntimeError, match="await the coroutine instead"):
        webhook_sim.run_sync("http://127.0.0.1:9/")


@pytest.mark.parametrize(
    ("options", "shown"),
    [
        ({"secret_header": ["X-Sig=topsecret123"]}, "--secret-header = ['***']"),
        ({"header": ["Authorization=Bearer-topsecret123"]}, "--header 'Authorization=***'"),
    ],
)
def test_an_error_never_shows_a_secret(options: dict[str, object], shown: str) -> None:
    with pytest.raises(webhook_sim.ConfigError) as caught:
        webhook_sim.send_sync("http://127.0.0.1:9/", **options)  # type: ignore[arg-type]
    assert "topsecret123" not in str(caught.value)
    assert shown in str(caught.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"flow": "by-client", "status": "3"}, "status='3': must be int"),
        ({"seed": 1.5}, "seed=1.5: must be int | None"),
        ({"timeout": True}, "timeout=True: must be float | None"),
        ({"process_id": 123}, "process_id=123: must be str | None"),
        ({"report_json": "r.json"}, "report_json=: not an option of this call"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_by_name(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(webhook_sim.ConfigError, match=re.escape(message)):
        webhook_sim.send_sync("http://127.0.0.1:9/", **options)  # type: ignore[arg-type]


def test_a_path_may_be_given_as_text(tmp_path: Path) -> None:
    with pytest.raises(webhook_sim.ConfigError, match=r"x\.toml: cannot read it"):
        webhook_sim.send_sync("http://127.0.0.1:9/", config=str(tmp_path / "x.toml"))  # type: ignore[arg-type]


def test_options_only_the_command_line_has_are_refused() -> None:
    with pytest.raises(webhook_sim.ConfigError, match="list_checks=: not an option"):
        webhook_sim.check_sync("http://127.0.0.1:9/", list_checks=True)  # type: ignore[call-arg]


async def test_a_check_that_proves_nothing_does_not_pass() -> None:
    # No platform, no view of the receiver's: both checks are skipped, and nothing passed.
    checked = await api.check("http://127.0.0.1:9/", only=["no-regression", "fallback-polling"])
    assert checked.report.passed  # the command line's exit 0: skipped is not failed
    assert not checked.passed  # but an assertion needs evidence
    assert "SKIP no-regression: " in checked.summary()
    assert "no check passed" in checked.summary()


@pytest.mark.e2e  # load runs on real time, one on worker processes
async def test_load_sends_from_this_process_unless_asked(sandbox: RunningReceiver) -> None:
    loaded = await api.load(sandbox.url, basic="u:p", rate=10, duration="1s")
    assert loaded.report.workers == 1


@pytest.mark.e2e  # load runs on real time, one on worker processes
async def test_cancelling_a_load_on_workers_stops_every_worker(sandbox: RunningReceiver) -> None:
    task = asyncio.create_task(
        api.load(sandbox.url, basic="u:p", rate=20, duration="60s", workers=2)
    )
    while sandbox.state.received < 5:  # noqa: ASYNC110 - the receiver's count has no event
        await asyncio.sleep(0.01)  # until the workers are sending
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert multiprocessing.active_children() == []  # stopped and joined, none left sending
    assert sandbox.state.received < 20 * 60 // 2


def test_a_finished_command_leaves_no_signal_behind() -> None:
    from dispatcher.signals import SIGNALS

    with SIGNALS.installed():
        SIGNALS.handle(signal.SIGINT, None)
        assert SIGNALS.first is signal.SIGINT
    assert SIGNALS.first is None  # the next call, from the API, is not interrupted


def test_evidence_quoted_from_a_body_is_masked_before_it_is_cut() -> None:
    from dispatcher.checks.sending import excerpt
    from dispatcher.redact import REDACTOR

    REDACTOR.add("topsecret123")
    try:
        for pad in range(100, 125):  # the cut falls before, inside and after the secret
            quoted = excerpt(b"x" * pad + b" password=topsecret123 and more")
            assert "top" not in quoted.replace("x", ""), quoted
    finally:
        REDACTOR.clear()


def test_paths_in_a_list_may_be_given_as_text_too() -> None:
    from dispatcher.jobs.calls import flags_for

    flags = flags_for(params.PLATFORM, None, {"service_account_key": ["k.pem"]})
    assert flags["service_account_key"] == [Path("k.pem")]
    with pytest.raises(webhook_sim.ConfigError, match=r"service_account_key=\[1\]: must be"):
        flags_for(params.PLATFORM, None, {"service_account_key": [1]})
