"""The pytest plugin (entry point `pytest11: webhook_sim`): test a receiver from your own suite.

Fixtures: `webhook_sim` (the API with test defaults), `webhook_sim_receiver` (the sandbox
receiver), `webhook_sim_platform` (the platform mock). Marker: `webhook_sim(seed=N,
receiver={...})`. Options: `--webhook-sim-seed N`, `--webhook-sim-junit PATH`.

Every pytest run of anyone with the package installed loads this module, so it imports nothing
of the package at module level: the fixtures import what they need when a test asks for them.

The fixtures are plain sync fixtures, so pytest-asyncio's mode does not matter to them: in
strict mode as in auto, an async test awaits the `webhook_sim` methods on its own loop, and
the servers run on loops of their own in background threads (`dispatcher.plugin.background`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .plugin.bound import Recorded, WebhookSim
    from .plugin.platform import Platforms
    from .plugin.receiver import SandboxReceiver

DEFAULT_SEED = 1  # a fixed seed unless the marker or --webhook-sim-seed give one
MARKER = "webhook_sim"
MARKER_KEYS = ("seed", "receiver")
RECORDED: pytest.StashKey[Recorded] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("webhook-sim")
    group.addoption(
        "--webhook-sim-seed",
        type=int,
        default=None,
        metavar="N",
        help=f"Seed of the webhook_sim fixtures (default {DEFAULT_SEED}; the marker's wins).",
    )
    group.addoption(
        "--webhook-sim-junit",
        default=None,
        metavar="PATH",
        help="Write a JUnit XML of every check run through the webhook_sim fixture "
        "(under xdist, one file per worker: PATH with .gwN before its suffix).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(seed=N, receiver={{...}}): the seed of the webhook_sim fixtures, and the "
        "settings of webhook_sim_receiver (basic, api_key, flaws, fail_rate ...)",
    )
    junit = config.getoption("webhook_sim_junit")
    if junit is not None:
        from .errors import ConfigError
        from .report import writable

        try:  # a typo in the path costs no test run
            writable(Path(junit), "--webhook-sim-junit")
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None


def pytest_sessionfinish(session: pytest.Session) -> None:
    junit = session.config.getoption("webhook_sim_junit")
    if junit is None:
        return
    from .plugin.bound import Recorded
    from .report import write_text

    if session.config.pluginmanager.hasplugin("dsession"):
        return  # xdist's controller runs no test: its workers write the checks they ran
    path = Path(junit)
    worker = getattr(session.config, "workerinput", None)
    if worker is not None:
        path = path.with_name(f"{path.stem}.{worker['workerid']}{path.suffix}")
    write_text(path, session.config.stash.get(RECORDED, Recorded([])).junit())


def _marker(request: pytest.FixtureRequest) -> Mapping[str, Any]:
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return {}
    unknown = sorted(set(marker.kwargs) - set(MARKER_KEYS))
    if marker.args or unknown:
        pytest.fail(
            f"@pytest.mark.{MARKER} takes keyword arguments {', '.join(MARKER_KEYS)} only; "
            f"got {', '.join(map(repr, marker.args)) or ', '.join(unknown)}",
            pytrace=False,
        )
    kwargs: Mapping[str, Any] = marker.kwargs
    return kwargs


def _seed(request: pytest.FixtureRequest) -> int | None:
    marker = _marker(request)
    if "seed" in marker:
        seed: int | None = marker["seed"]
        return seed
    option: int | None = request.config.getoption("webhook_sim_seed")
    return DEFAULT_SEED if option is None else option


@pytest.fixture
def webhook_sim(request: pytest.FixtureRequest) -> WebhookSim:
    """`send`, `run`, `check`, `load` (await them; `*_sync` without a loop) with a seed and
    short retry intervals filled in; `assert_passed(result)` fails the test with the evidence."""
    from .plugin.bound import Recorded, WebhookSim

    recorded = request.config.stash.setdefault(RECORDED, Recorded([]))
    return WebhookSim(_seed(request), request.node.nodeid, recorded)


@pytest.fixture
def webhook_sim_receiver(request: pytest.FixtureRequest) -> Iterator[SandboxReceiver]:
    """The sandbox receiver on a free loopback port for this test: `url`, `verify_url`,
    `credentials`, `stats()`, `process(id)`, `set_flaws(...)`, `configure(...)`."""
    from .errors import ConfigError
    from .plugin.receiver import SandboxReceiver, receiver_config

    try:
        config = receiver_config(_seed(request), _marker(request).get("receiver", {}))
    except ConfigError as exc:  # a mistake in the marker: its one line says it all
        pytest.fail(str(exc), pytrace=False)
    receiver = SandboxReceiver(config)
    try:
        yield receiver
        s = receiver.stats()
        request.node.add_report_section(
            "teardown",
            "webhook-sim receiver",
            f"{receiver.url}: received {s.received}, accepted {s.accepted} ({s.unique} unique, "
            f"{s.duplicates} duplicates), rejected {s.rejected_auth} for auth and "
            f"{s.invalid_payload} as invalid; answers {dict(s.responses)}",
        )
    finally:
        receiver.close()


@pytest.fixture
def webhook_sim_platform(request: pytest.FixtureRequest) -> Iterator[Platforms]:
    """`start(webhook_url, **options)` the platform mock (options of `webhook-sim platform`);
    each one's `url`, `report()`, `summary()`, `outage()`, and `close()` for its final report.
    All are stopped after the test."""
    from .plugin.platform import Platforms

    platforms = Platforms(_seed(request))
    try:
        yield platforms
    finally:
        lines = platforms.close()
        if lines:
            request.node.add_report_section("teardown", "webhook-sim platform", "\n".join(lines))
