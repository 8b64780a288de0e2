"""The pytest plugin (`dispatcher.pytest_plugin`) as a user meets it: test files that use its
fixtures, run by pytest in a subprocess (pytester) under pytest-asyncio's auto and strict modes,
and the example receiver's suite (examples/aiohttp_receiver) run as its README says."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
# Every test here starts pytest or Python in a subprocess: `make unit` leaves them out.
pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
# Each flaw of the sandbox receiver, the check it fails, and a piece of that check's evidence.
FLAWS = {
    "any-credentials": ("rejects-bad-credentials", "(no credentials) → got 200"),
    "duplicate-409": ("idempotent-duplicates", "→ got 409"),
    "duplicate-500": ("idempotent-duplicates", "→ got 500"),
    "unknown-500": ("tolerates-unknown-status", '"status":6} (auth basic) → got 500'),
    "extra-field-500": ("tolerates-extra-field", '"webhookSimExtraField"'),
    "regress": ("no-regression", "status=2"),
    "slow": ("answers-within-timeout", "→ got timeout"),
}
# Async tests are marked in strict mode only: auto mode must not need it.
MARK = {"auto": "", "strict": "@pytest.mark.asyncio"}
# Plugins the runs do not use cost a second of start-up each.
UNUSED = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:xdist")
# A socket or transport a fixture leaves open is an error, not a line in a warning summary.
INNER = (
    *UNUSED, "-o", "asyncio_default_fixture_loop_scope=function",
    "-W", "error::ResourceWarning", "-W", "error::pytest.PytestUnraisableExceptionWarning",
)  # fmt: skip

CHECK_FILE = """
import pytest

FLAWS = {flaws!r}
CREDS = {{"basic": "integrator:s3cret"}}
SMALL = {{"batch": 20, "burst": 50}}  # the verdicts of the real sizes, in a fraction of the sends


@pytest.mark.webhook_sim(receiver=CREDS)
{mark}
async def test_correct_receiver(webhook_sim, webhook_sim_receiver):
    r = webhook_sim_receiver
    result = await webhook_sim.check(
        r.url, **r.credentials, flow="by-client", verify_url=r.verify_url, **SMALL
    )
    assert result.passed, result.summary()
    assert [c.status for c in result.results].count("passed") == 8
    assert r.stats().rejected_auth == 2


@pytest.mark.webhook_sim(receiver=CREDS)
@pytest.mark.parametrize("flaw", sorted(FLAWS))
{mark}
async def test_flawed_receiver(webhook_sim, webhook_sim_receiver, flaw):
    r = webhook_sim_receiver
    options = {{}}
    if flaw == "slow":  # every answer takes 50 ms, twice the timeout, however busy the machine
        r.configure(slow_ms=50)
        options = {{"timeout": 0.025, "batch": 5}}
    r.set_flaws(flaw)
    result = await webhook_sim.check(
        r.url, **r.credentials, flow="by-client", verify_url=r.verify_url,
        only=[FLAWS[flaw][0]], **options,
    )
    assert result.passed, result.summary()


@pytest.mark.webhook_sim(receiver=CREDS)
def test_sync_test_and_assert_passed(webhook_sim, webhook_sim_receiver):
    r = webhook_sim_receiver
    r.set_flaws("duplicate-409")
    webhook_sim.assert_passed(
        webhook_sim.check_sync(r.url, **r.credentials, only=["idempotent-duplicates"])
    )
"""


def failure_sections(lines: list[str]) -> dict[str, str]:
    """Each failed test's section of pytest's output, by the test's name."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in lines:
        header = re.fullmatch(r"_{3,} (\S+) _{3,}", line)
        if header:
            current = sections.setdefault(header.group(1), [])
        else:
            current.append(line)
    return {name: "\n".join(body) for name, body in sections.items()}


@pytest.mark.parametrize("mode", ["auto", "strict"])
def test_checks_pass_a_correct_receiver_and_each_flaw_fails_its_check(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(test_checks=CHECK_FILE.format(flaws=FLAWS, mark=MARK[mode]))
    junit = pytester.path / "checks.xml"
    result = pytester.runpytest_subprocess(
        *INNER, "-o", f"asyncio_mode={mode}",
        "--webhook-sim-junit", str(junit), timeout=300,
    )  # fmt: skip
    result.assert_outcomes(passed=1, failed=len(FLAWS) + 1)
    sections = failure_sections(result.outlines)
    for flaw, (check, evidence) in FLAWS.items():
        text = sections[f"test_flawed_receiver[{flaw}]"]
        assert f"AssertionError: FAIL {check}: " in text, text
        assert evidence in text, text
        assert re.search(r"^E +· sent ", text, re.M) or "· GET " in text, text
        assert "0 passed, 1 failed, 0 skipped" in text, text
        assert "Captured webhook-sim receiver teardown" in text, text
    assert "FAIL idempotent-duplicates: " in sections["test_sync_test_and_assert_passed"]
    # Every check run through the fixture, by test, in one JUnit report.
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("17", "8", "1")
    names = {case.get("name") for case in suite.iter("testcase")}
    assert "test_checks.py::test_flawed_receiver[regress]::no-regression" in names
    assert "test_checks.py::test_correct_receiver::burst-500" in names


FIXTURES_FILE = """
import base64
import json
import threading
import time
import urllib.request

import pytest

from dispatcher.errors import ConfigError


def test_seed_from_the_option(webhook_sim):
    assert webhook_sim.seed == 7


@pytest.mark.webhook_sim(seed=3)
def test_seed_from_the_marker(webhook_sim):
    assert webhook_sim.seed == 3


@pytest.mark.webhook_sim(sead=3)
def test_marker_typo(webhook_sim):
    pass


{mark}
async def test_receiver_switches_and_stats(webhook_sim, webhook_sim_receiver):
    r = webhook_sim_receiver
    r.configure(fail_first=1)
    sent = await webhook_sim.send(r.url, flow="by-client", process_id="{pid}", max_attempts=2)
    webhook_sim.assert_passed(sent)
    assert sent.attempts == 2
    stats = r.stats()
    assert (stats.received, stats.accepted, stats.injected_failures) == (2, 1, 1)
    assert stats.responses == {{200: 1, 500: 1}}
    assert r.process("{pid}") == {{"id": "{pid}", "status": 3}}
    with pytest.raises(ConfigError, match="basic: fixed when the receiver starts"):
        r.configure(basic="a:b")


def _post(url, data, headers):
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def _start_a_process(base):
    b64 = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    now = int(time.time())
    claims = {{"iss": "app@tenant.iam.acesso.io", "aud": "id.test", "scope": "*",
              "iat": now, "exp": now + 600}}
    jwt = f"{{b64({{'alg': 'RS256'}})}}.{{b64(claims)}}.c2ln"  # the mock checks claims only
    form = f"grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion={{jwt}}"
    token = _post(base + "/oauth2/token", form.encode(),
                  {{"Content-Type": "application/x-www-form-urlencoded"}})["access_token"]
    headers = {{"Authorization": f"Bearer {{token}}", "APIKEY": "k",
               "Content-Type": "application/json"}}
    return _post(base + "/processes/v1", json.dumps({{"subject": {{"code": "1", "name": "Ana"}},
                 "imageBase64": "AA=="}}).encode(), headers)["id"]


def _until(condition):
    deadline = time.monotonic() + 60  # a safety net, never a measurement
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.01)


def test_platform_notifies_and_drops_during_an_outage(webhook_sim_platform, webhook_sim_receiver):
    r = webhook_sim_receiver
    platform = webhook_sim_platform.start(r.url, client_mix="3=1")
    _start_a_process(platform.url)
    _until(lambda: r.stats().accepted == 1)
    platform.outage("drop")
    _start_a_process(platform.url)
    _until(lambda: platform.summary().finished == 2)
    summary = platform.summary()
    assert (summary.processes, summary.webhook_missed, summary.missed_never_learned) == (2, 1, 1)
    final = platform.close()
    assert final.notifications.delivered == 1
    assert r.stats().accepted == 1


def test_no_server_thread_outlives_its_test():
    assert [t.name for t in threading.enumerate() if t.name.startswith("webhook-sim")] == []
"""


@pytest.mark.parametrize("mode", ["auto", "strict"])
def test_seed_receiver_and_platform_fixtures(pytester: pytest.Pytester, mode: str) -> None:
    pid = "6f1b8e8e-2c2a-4d5e-9a0e-0c6c1f4f2b7a"
    pytester.makepyfile(test_fixtures=FIXTURES_FILE.format(mark=MARK[mode], pid=pid))
    result = pytester.runpytest_subprocess(
        *INNER, "-o", f"asyncio_mode={mode}",
        "--webhook-sim-seed", "7", "--strict-markers", "-rP", timeout=300,
    )  # fmt: skip
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at setup of test_marker_typo*", "@pytest.mark.webhook_sim takes keyword "
         "arguments seed, receiver only; got sead"]
    )  # fmt: skip
    result.stdout.fnmatch_lines(["*Captured webhook-sim platform teardown*"])


def test_a_bad_junit_path_stops_the_run_before_it_starts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing(): pass")
    result = pytester.runpytest_subprocess(*UNUSED, "--webhook-sim-junit", str(pytester.path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--webhook-sim-junit = *: is a directory, not a file*"])


def test_the_plugin_imports_nothing_heavy_at_start_up() -> None:
    # Every pytest run of anyone with the package installed loads the plugin.
    code = (
        "import sys, dispatcher.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.startswith(('dispatcher.', 'aiohttp', "
        "'pydantic'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "['dispatcher.pytest_plugin']"


def test_the_example_receiver_suite_passes() -> None:
    # As its README says to run it, in strict mode: the mode that asks more of a suite.
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "examples/aiohttp_receiver", *UNUSED, "-q",
         "-o", "asyncio_mode=strict"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout, proc.stdout


def test_each_call_gets_a_seed_of_its_own_that_repeats() -> None:
    from dispatcher.plugin.bound import Recorded, WebhookSim

    def seeds(node: str) -> list[object]:
        bound = WebhookSim(7, node, Recorded([]))
        return [bound._defaults()["seed"] for _ in range(3)]

    first = seeds("tests/test_x.py::test_a")
    assert len(set(first)) == 3  # two calls never send the same process ids
    assert seeds("tests/test_x.py::test_a") == first  # and a run repeats exactly
    assert set(seeds("tests/test_x.py::test_b")).isdisjoint(first)  # nor do two tests
    assert WebhookSim(None, "n", Recorded([]))._defaults()["seed"] is None
