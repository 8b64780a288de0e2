"""The command line, as a user meets it: exit codes, one-line errors, no secret in any output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dispatcher.cli import main

from .conftest import closed_port

Receiver = Callable[..., str]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_send_with_right_credentials_exits_0(
    shared_receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    url = shared_receiver("--auth", "basic", "--basic", "user:pa55word")
    code, out, _ = run(capsys, "send", "--url", url + "/hook", "--basic", "user:pa55word")
    assert code == 0
    assert '"state": "PROCESS_STATE_FINISHED"' in out
    assert "attempt  1  200" in out
    assert "delivered after 1 attempt" in out


def test_send_with_wrong_password_exits_1_after_the_configured_attempts(
    shared_receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    url = shared_receiver("--auth", "basic", "--basic", "user:pa55word")
    code, out, _ = run(
        capsys, "send", "--url", url, "--basic", "user:wrong", "--max-attempts", "3",
        "--interval", "0.01",
    )  # fmt: skip
    assert code == 1
    assert out.count(" 401 ") == 3
    assert "no attempts left" in out
    assert "not delivered after 3 attempt(s)" in out


def test_send_by_client_status(
    shared_receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    url = shared_receiver()
    code, out, _ = run(
        capsys, "send", "--url", url, "--flow", "by-client", "--status", "4",
        "--process-id", "8263a268-5388-492a-bca2-28e1ff4a69f0",
    )  # fmt: skip
    assert code == 0
    assert '"id": "8263a268-5388-492a-bca2-28e1ff4a69f0"' in out
    assert '"status": 4' in out


def test_config_with_501_simultaneous_sends_exits_2_naming_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "webhook.toml"
    config.write_text('url = "http://127.0.0.1:9/"\nconcurrency = 501\n')
    code, out, err = run(capsys, "send", "--config", str(config))
    assert code == 2
    assert err.count("\n") == 1
    assert "concurrency = 501" in err
    assert "500" in err
    assert out == ""


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["send", "--url", "http://127.0.0.1:9", "--bogus"], "No such option: --bogus"),
        (["send", "--url", "http://127.0.0.1:9", "--max-attempts", "x"], "--max-attempts"),
        (["send", "--url", "http://127.0.0.1:9", "--max-attempts", "0"], "--max-attempts = 0"),
        (["send", "--url", "http://127.0.0.1:9", "--auth", "digest"], "--auth = 'digest'"),
        (["send", "--url", "http://127.0.0.1:9", "--flow", "by-fax"], "--flow = 'by-fax'"),
        (["send", "--url", "mailto:x@y"], "--url = 'mailto:x@y'"),
        (["send"], "url is required"),
        (["send", "--config", "/nonexistent.toml"], "--config /nonexistent.toml: cannot read"),
        (["send", "--url", "http://127.0.0.1:9", "--auth", "oauth2"], "auth.token_url is required"),
        (["send", "--url", "http://127.0.0.1:9", "--process-id", "42"], "--process-id = '42'"),
        (["send", "--url", "http://127.0.0.1:9", "-H", "no colon"], "header 'no colon'"),
        (["send", "--url", "http://127.0.0.1:9", "-H", "X-A:caf\u00e9"], "one line of ASCII"),
        (
            ["send", "--url", "http://127.0.0.1:9", "--ca-bundle", "/nope.pem"],
            "--ca-bundle = '/nope.pem': file",
        ),
        (["receiver", "--fail-rate", "2"], "fail_rate = 2.0"),
        (["receiver", "--auth", "basic"], "--basic USER:PASS is required"),
        (["nonsense"], "No such command 'nonsense'"),
        (
            ["run", "--url", "http://127.0.0.1:9", "--report-json", "/proc/nope/r.json"],
            "--report-json = '/proc/nope/r.json': cannot create its folder",
        ),
        (["check", "--url", "http://127.0.0.1:9", "--junit", "/tmp"], "is a directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("webhook-sim: error: ")
    assert err.count("\n") == 1, err
    assert expected in err
    assert "Traceback" not in err


def test_bad_yaml_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("url: [unclosed\n")
    code, _, err = run(capsys, "send", "--config", str(config))
    assert code == 2
    assert "not valid YAML" in err
    assert err.count("\n") == 1


SECRET = "Sup3r-S3cret-Value"


@pytest.mark.parametrize("kind", ["basic", "api-key header", "api-key value", "oauth2"])
@pytest.mark.parametrize("right", [True, False])
def test_secrets_never_reach_the_output(
    shared_receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    kind: str,
    right: bool,
) -> None:
    sent = SECRET if right else SECRET + "-wrong"
    if kind == "basic":
        url = shared_receiver("--auth", "basic", "--basic", f"user:{SECRET}")
        flags = ["--basic", f"user:{sent}"]
    elif kind == "api-key header":
        url = shared_receiver("--auth", "api-key", "--api-key", f"X-API-Key:{SECRET}")
        flags = ["--api-key", f"X-API-Key:{sent}"]
    elif kind == "api-key value":
        url = shared_receiver("--auth", "api-key", "--api-key", SECRET)
        flags = ["--api-key", sent]
    else:
        url = shared_receiver(
            "--auth", "oauth2", "--client-id", "cid", "--client-secret", SECRET
        )  # fmt: skip
        flags = ["--token-url", url + "/oauth/token", "--client-id", "cid", "--client-secret", sent]
    code, out, err = run(
        capsys, "send", "--url", url, "--max-attempts", "2", "--interval", "0.01", *flags
    )
    assert code == (0 if right else 1)
    assert SECRET not in out + err


@pytest.mark.e2e  # the whole demo: receivers, every auth type, retries
def test_demo_exits_0_and_shows_every_auth_type(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo")
    assert code == 0
    for word in ("none", "basic", "api-key", "oauth2", "500 → 500 → 200", "401 → 401 → 401"):
        assert word in out
    assert "all cases ended as expected" in out
    for secret in ("s3cret-pass", "demo-key-123", "demo-key-456", "demo-client-secret"):
        assert secret not in out


def test_send_to_closed_port_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "send", "--url", f"http://127.0.0.1:{closed_port()}/", "--max-attempts", "2",
        "--interval", "0.01",
    )  # fmt: skip
    assert code == 1
    assert out.count("  refused ") == 2


def test_help_states_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "send", "--help")
    assert code == 0
    for text in ("Default: 5", "Default: 1", "Default: 10", "Default: by-unico"):
        assert text in out


def test_no_command_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    assert code == 0
    assert "Commands" in out
    for command in ("send", "run", "check", "load", "report", "platform", "receiver", "demo"):
        assert command in out
    assert err == ""


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from dispatcher import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"webhook-sim {__version__}"
