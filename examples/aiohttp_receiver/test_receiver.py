"""The receiver's own tests, with webhook-sim's pytest plugin (installed with webhook-sim: its
fixtures `webhook_sim`, `webhook_sim_receiver` and `webhook_sim_platform` need no import).

Run: `pytest examples/aiohttp_receiver`. Written for pytest-asyncio in strict mode (async tests
marked, the app fixture a `pytest_asyncio.fixture`), so it runs in auto mode as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from aiohttp import web
from receiver_app import STORE, Store, create_app

if TYPE_CHECKING:
    from dispatcher.plugin import WebhookSim

CREDENTIALS = "integrator:s3cret"
PROCESS_ID = "0b9f5f1e-4a57-4c4e-9a39-2f8a3c0d7e11"


@dataclass
class App:
    url: str  # where the platform sends notifications
    verify_url: str  # the app's own view of a process, for the no-regression check
    store: Store


@pytest_asyncio.fixture
async def app() -> AsyncIterator[App]:
    """The app on a free loopback port, on the test's event loop."""
    application = create_app(CREDENTIALS)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield App(base + "/webhooks/unico", base + "/processes/{id}", application[STORE])
    await runner.cleanup()


@pytest.mark.asyncio
async def test_meets_the_contract(webhook_sim: WebhookSim, app: App) -> None:
    # The whole suite, by-Client: auth, statuses, duplicates, unknowns, a burst of 500, order.
    result = await webhook_sim.check(
        app.url, basic=CREDENTIALS, flow="by-client", verify_url=app.verify_url
    )
    assert result.passed, result.summary()


@pytest.mark.asyncio
async def test_takes_both_by_unico_payload_profiles(webhook_sim: WebhookSim, app: App) -> None:
    result = await webhook_sim.check(
        app.url,
        basic=CREDENTIALS,
        only=["accepts-notified-statuses", "tolerates-unknown-status", "tolerates-extra-field"],
    )
    webhook_sim.assert_passed(result)


@pytest.mark.asyncio
async def test_acts_once_on_a_notification_delivered_three_times(
    webhook_sim: WebhookSim, app: App
) -> None:
    for _ in range(3):
        sent = await webhook_sim.send(
            app.url, basic=CREDENTIALS, flow="by-client", process_id=PROCESS_ID, status=3
        )
        webhook_sim.assert_passed(sent)
    assert app.store.acted_on == [PROCESS_ID]
    assert app.store.duplicates == 2


@pytest.mark.asyncio
async def test_duplicated_and_reordered_traffic_leaves_every_process_final(
    webhook_sim: WebhookSim, app: App
) -> None:
    result = await webhook_sim.run(
        app.url, basic=CREDENTIALS, flow="by-client", count=40, statuses="3",
        duplicates=0.5, reorder=0.5,
    )  # fmt: skip
    webhook_sim.assert_passed(result)
    assert len(app.store.acted_on) == len(set(app.store.acted_on)) == 40
    assert app.store.duplicates > 0
    assert {view["status"] for view in app.store.processes.values()} == {3}
