"""Hostile input at every edge: one line on stderr naming the flag or key, exit 2, no traceback.

Everything here is refused before a request is sent: the URLs point at a port nothing listens
on, so a case that slipped through would show up as exit 1, not as a hang.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from dispatcher.cli import main
from dispatcher.errors import ConfigError
from dispatcher.settings import FRAMING_HEADERS, build_settings

from .conftest import closed_port

URL = "http://127.0.0.1:9/hook"
PASSWORD = "Hunter2-Pa55"


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI, assert the one-line exit-2 contract, return that line."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.startswith("webhook-sim: error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert "error: webhook-sim:" not in err  # one prefix, not two
    return err.removeprefix("webhook-sim: error: ").rstrip("\n")


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# YAML aliases ------------------------------------------------------------------------------

BOMB = "".join(
    [
        'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n',
        *(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)),
    ]
)


def _limited() -> None:
    # Should the refusal regress, the child fails with MemoryError instead of taking the
    # machine down with it.
    limit = 2 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.e2e  # a subprocess, to bound its memory
@pytest.mark.parametrize("where", ["config", "scenario"])
def test_an_alias_bomb_is_refused_at_once(tmp_path: Path, where: str) -> None:
    if where == "config":
        path = write(tmp_path, "bomb.yaml", f"url: {URL}\n{BOMB}")
        argv = ["send", "--config", str(path)]
    else:
        indented = "".join(f"  {line}\n" for line in BOMB.splitlines())
        path = write(tmp_path, "bomb.yaml", f"name: bomb\nsettings:\n{indented}")
        argv = ["run", str(path), "--url", URL]
    proc = subprocess.run(
        [sys.executable, "-m", "dispatcher.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,  # generous for a loaded machine; the refusal itself takes milliseconds
        preexec_fn=_limited,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    line = 2 if where == "config" else 3
    assert f"{path}: line {line}: YAML anchors and aliases are not allowed" in proc.stderr


def test_a_lone_anchor_and_a_merge_key_are_refused_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "c.yaml", f"url: {URL}\nauth: &auth {{type: none}}\n")
    assert "line 2: YAML anchors and aliases are not allowed" in refused(
        capsys, "send", "--config", str(path)
    )
    path = write(tmp_path, "m.yaml", f"base: &b {{max_attempts: 2}}\nurl: {URL}\n<<: *b\n")
    assert "YAML anchors and aliases" in refused(capsys, "send", "--config", str(path))


# Files no settings file looks like --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "latin1.toml",
            f'url = "{URL}"\nflow = "caf\xe9"\n'.encode("latin-1"),
            "--config {path}: not UTF-8 text (byte 0xe9 on line 2)",
        ),
        (
            "deep.yaml",
            f"url: {URL}\nx: {'[' * 10_000}{']' * 10_000}\n",
            "{path}: line 2: nested more than 32 levels deep",
        ),
        (
            "deep.toml",
            f'url = "{URL}"\nx = {"[" * 10_000}{"]" * 10_000}\n',
            "{path}: nested more than 32 levels deep",
        ),
        (
            "dotted.toml",
            f'url = "{URL}"\n{".".join(["k"] * 100)} = 1\n',
            "{path}: nested more than 32 levels deep",
        ),
        (
            "digits.toml",
            f'url = "{URL}"\nmax_attempts = {"9" * 5000}\n',
            "{path}: not valid TOML: a number has more than 4300 digits",
        ),
        (
            "digits.yaml",
            f"url: {URL}\nmax_attempts: {'9' * 5000}\n",
            "{path}: not valid YAML: a number has more than 4300 digits",
        ),
        ("key.yaml", f"url: {URL}\n1: x\n", "{path}: key 1 must be a string (quote it)"),
        ("date.yaml", f"url: {URL}\nx: 2024-13-45\n", "{path}: not valid YAML: month must be"),
        (
            "two.yaml",
            f"url: {URL}\n---\nflow: by-client\n",
            "{path}: not valid YAML at line 2, column 1: expected a single document",
        ),
        (
            "huge.yaml",
            "#" * (1024 * 1024 + 1),
            "--config {path}: larger than 1 MiB (settings and scenario files are a few KiB)",
        ),
    ],
)
def test_a_config_file_no_parser_should_trust(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str | bytes,
    expected: str,
) -> None:
    path = write(tmp_path, name, text)
    assert refused(capsys, "send", "--config", str(path)).startswith(expected.format(path=path))


def test_a_scenario_file_gets_the_same_treatment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "s.yaml", b"name: caf\xe9\n")
    assert refused(capsys, "run", str(path), "--url", URL) == (
        f"scenario {path}: not UTF-8 text (byte 0xe9 on line 1)"
    )
    deep = "".join(f"{'  ' * i}k{i}:\n" for i in range(40))
    path = write(tmp_path, "deep.yaml", f"name: x\nsettings:\n{deep}")
    assert "nested more than 32 levels deep" in refused(capsys, "run", str(path), "--url", URL)
    path = write(tmp_path, "n.yaml", 'name: "x\\e[2J"\n')
    assert refused(capsys, "run", str(path), "--url", URL) == (
        f"{path}: name = 'x\\x1b[2J': must not contain control characters"
    )


# Numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--grace", "nan"], "--grace = nan: Input should be a finite number"),
        (["run", "--grace", "-1"], "--grace = -1.0: Input should be greater than or equal to 0"),
        (["run", "--progress-every", "nan"], "--progress-every = nan: Input should be a finite"),
        (["run", "--progress-every", "-1"], "--progress-every = -1.0: Input should be greater"),
        (["run", "--progress-every", "0"], "--progress-every = 0.0: Input should be greater"),
        (["load", "--rate", "10", "--grace", "nan"], "--grace = nan: Input should be a finite"),
        (["send", "--max-attempts", "9" * 5000], "--max-attempts"),
        (["send", "--interval", "9" * 5000], "--interval = inf: Input should be less than or"),
        (["load", "--rate", "10", "--duration", "9" * 5000], "--duration = '9999"),
        (["load", "--rate", "10", "--duration", "169h"], "--duration = '169h': at most 168h"),
        (
            ["load", "--ramp", "0:1e308,1h:1e308"],
            "--ramp = '0:1e308,1h:1e308': rate '1e308' must be from 0 to 1000000 per second",
        ),
        (["load", "--ramp", "0:nan,1h:5"], "rate 'nan' must be from 0 to 1000000"),
        (["load", "--ramp", "0:5,9999h:5"], "--ramp = '9999h': at most 168h (a week)"),
        (["load", "--ramp", "0:0,10s:0"], "--ramp = '0:0,10s:0': asks for less than one"),
        (
            ["run", "--flow", "by-client", "--statuses", "9" * 5000],
            "--statuses: '9999",
        ),
    ],
)
def test_numbers_out_of_any_sane_range(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    line = refused(capsys, *argv, "--url", URL)
    assert expected in line
    assert len(line) < 400


# Headers and API keys --------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\x00", "\x01", "\r", "\n", "\x1b", "\x7f"])
def test_control_characters_in_a_header_or_api_key(
    capsys: pytest.CaptureFixture[str], char: str
) -> None:
    line = refused(capsys, "send", "--url", URL, "-H", f"X-Trace:a{char}b")
    assert line == (
        "--header 'X-Trace': its value must be one line of visible ASCII (no control characters)"
    )
    for spec in (f"X-Key:{PASSWORD}{char}", f"{PASSWORD}{char}"):
        line = refused(capsys, "send", "--url", URL, "--api-key", spec)
        assert line == (
            "--api-key = ***: the value must be one line of visible ASCII (no control characters)"
        )


def test_a_tab_inside_a_header_value_is_allowed() -> None:
    s = build_settings(flags={"url": URL, "headers": ["X-A:a\tb"]}, env={})
    assert s.headers == (("X-A", "a\tb"),)


def test_an_api_key_with_an_empty_value(capsys: pytest.CaptureFixture[str]) -> None:
    for spec in ("X-Key:", "X-Key:   "):
        assert refused(capsys, "send", "--url", URL, "--api-key", spec) == (
            "--api-key = ***: header X-Key has an empty value (HEADER:VALUE, or VALUE alone)"
        )


@pytest.mark.parametrize("name", [*FRAMING_HEADERS, "content-length", "HOST"])
def test_framing_headers_are_the_clients(capsys: pytest.CaptureFixture[str], name: str) -> None:
    line = refused(capsys, "send", "--url", URL, "-H", f"{name}: 5")
    assert line == (
        f"--header '{name}': set by the HTTP client (not allowed: Content-Length, "
        "Transfer-Encoding, Host, Connection, Upgrade, TE, Trailer, Keep-Alive, Proxy-Connection)"
    )
    line = refused(capsys, "send", "--url", URL, "--api-key", f"{name}:{PASSWORD}")
    assert line.startswith(f"--api-key = ***: {name} cannot carry an API key (not allowed: ")


def test_a_framing_header_in_a_config_file_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "c.yaml", f"url: {URL}\nheaders: {{Transfer-Encoding: chunked}}\n")
    line = refused(capsys, "send", "--config", str(path))
    assert line.startswith(f"{path}: headers 'Transfer-Encoding': set by the HTTP client")


def test_header_values_never_reach_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(
        capsys, "send", "--url", URL, "-H", f"Authorization: Bearer {PASSWORD}", "-H", "X A:1"
    )
    assert line == "--header 'X A': must be NAME:VALUE with a valid header name"
    assert PASSWORD not in line


# URLs ------------------------------------------------------------------------------------


def test_credentials_in_the_url_are_refused_and_never_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(capsys, "send", "--url", f"http://user:{PASSWORD}@127.0.0.1:9/h")
    assert line == (
        "--url = 'http://***@127.0.0.1:9/h': credentials in the URL are not allowed "
        "(pass them as --basic USER:PASS or auth.basic)"
    )
    path = write(tmp_path, "c.toml", f'url = "https://user:{PASSWORD}@example.test/h"\n')
    line = refused(capsys, "send", "--config", str(path))
    assert line.startswith(f"{path}: url = 'https://***@example.test/h': credentials in the URL")
    line = refused(
        capsys, "send", "--url", URL, "--token-url", f"http://cid:{PASSWORD}@127.0.0.1:9/t",
        "--client-id", "cid", "--client-secret", "x",
    )  # fmt: skip
    assert line == (
        "--token-url = 'http://***@127.0.0.1:9/t': credentials in the URL are not allowed "
        "(pass them as --client-id and --client-secret)"
    )
    line = refused(capsys, "send", "--url", f"http://{PASSWORD}@127.0.0.1:9/h")
    assert "'http://***@127.0.0.1:9/h'" in line
    assert PASSWORD not in line


def test_an_at_sign_in_the_path_is_not_userinfo() -> None:
    s = build_settings(flags={"url": "http://127.0.0.1:9/a@b"}, env={})
    assert s.url == "http://127.0.0.1:9/a@b"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"http://{'a' * 300}.example/h", "the host name is not valid (labels of 1 to 63"),
        (f"http://{'a.' * 130}example/h", "the host name is not valid"),
        ("http://a..b/h", "the host name is not valid"),
        ("http://127.0.0.1:9/a b", "must not contain spaces or control characters"),
        ("http://127.0.0.1:9/\r\nX-Injected: 1", "must not contain spaces or control"),
        ("http://127.0.0.1:99999/", "not a URL (Port out of range 0-65535)"),
    ],
)
def test_urls_the_resolver_or_the_wire_would_choke_on(
    capsys: pytest.CaptureFixture[str], url: str, expected: str
) -> None:
    line = refused(capsys, "send", "--url", url)
    assert line.startswith("--url = '")
    assert expected in line


def test_rich_markup_in_a_url_or_scenario_name_is_just_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    code = main(["send", "--url", f"http://127.0.0.1:{port}/[/b]", "--max-attempts", "1"])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert f"POST http://127.0.0.1:{port}/[/b]" in out
    path = write(
        tmp_path,
        "s.yaml",
        'name: "[/bold]"\ntraffic: {count: 1}\nsettings: {max_attempts: 1}\n',
    )
    code = main(["run", str(path), "--url", f"http://127.0.0.1:{port}/"])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "scenario [/bold]:" in out


# TLS -------------------------------------------------------------------------------------


def test_a_ca_bundle_that_is_not_pem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "ca.pem", "not a certificate\n")
    line = refused(capsys, "send", "--url", URL, "--ca-bundle", str(path))
    assert line.startswith("--ca-bundle = '")
    assert line.endswith(
        "/ca.pem': not a PEM file of CA certificates (NO_CERTIFICATE_OR_CRL_FOUND)"
    )


# Choices ---------------------------------------------------------------------------------


def test_send_result_is_one_of_three_but_status_stays_open(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert refused(capsys, "send", "--url", URL, "--result", "maybe") == (
        "--result = 'maybe': not a by-Unico result (allowed: ok, expired, invalid_identity)"
    )
    # An unknown by-client status is a tolerance test, so it is sent (and not delivered here).
    code = main(
        ["send", "--url", f"http://127.0.0.1:{closed_port()}/", "--flow", "by-client",
         "--status", "9", "--max-attempts", "1"]
    )  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 1
    assert '"status": 9' in out


def test_max_interval_below_interval_is_refused_without_statuses(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert refused(capsys, "send", "--url", URL, "--interval", "5", "--max-interval", "1") == (
        "--max-interval = 1: must be at least --interval (5)"
    )
    assert refused(capsys, "run", "--url", URL, "--interval", "100") == (
        "--interval = 100: must be at most max_interval_s (60 by default; raise it with "
        "--max-interval)"
    )
    path = write(tmp_path, "c.toml", f'url = "{URL}"\ninterval_s = 5\nmax_interval_s = 1\n')
    assert refused(capsys, "send", "--config", str(path)) == (
        f"{path}: max_interval_s = 1: must be at least interval_s (5)"
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--statuses", ","], "--statuses must name at least one status"),
        (["run", "--auth", "oauth2"], "auth.token_url is required when --auth is oauth2"),
    ],
)
def test_cross_field_rules_from_flags_have_one_prefix(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert refused(capsys, *argv, "--url", URL).startswith(expected)


# Output paths ----------------------------------------------------------------------------


def test_check_refuses_an_unwritable_report_path_before_checking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = write(tmp_path, "a-file", "")
    # A folder that cannot be created (its parent is a file), even for root.
    junit = blocker / "x.xml"
    code = main(["check", "--url", f"http://127.0.0.1:{closed_port()}/", "--junit", str(junit)])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1, err
    assert f"--junit = '{junit}'" in err
    assert out == ""  # nothing was checked


# report ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1, 2]", "not a webhook-sim report (no 'notifications')"),
        ('{"notifications": {}}', "not a webhook-sim report (no "),
        (
            '{"notifications": [], "latency_ms": 1, "attempts": 2}',
            "not a webhook-sim report (a field has the wrong type)",
        ),
        (
            '{"notifications": ' + "[" * 100_000 + "]" * 100_000 + "}",
            "not a webhook-sim report (nested too deeply)",
        ),
        ("[" * 100_000 + "]" * 100_000, "not a webhook-sim report (nested too deeply)"),
        ('{"notifications": ' + "9" * 5000 + "}", "not JSON ("),
        (b'{"notifications": "caf\xe9"}', "not JSON ("),
    ],
)
def test_report_of_something_that_is_not_a_load_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | bytes, expected: str
) -> None:
    source = write(tmp_path, "r.json", text)
    html = tmp_path / "r.html"
    line = refused(capsys, "report", str(source), "--html", str(html))
    assert line.startswith(f"{source}: {expected}")
    assert not html.exists()


def test_report_checks_the_html_path_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path, "r.json", json.dumps({"notifications": {}}))
    blocker = write(tmp_path, "a-file", "")
    assert "--html = " in refused(capsys, "report", str(source), "--html", str(blocker / "x.html"))


# Library edge ----------------------------------------------------------------------------


def test_validation_messages_are_one_line_from_the_library_too() -> None:
    with pytest.raises(ConfigError) as info:
        build_settings(flags={"url": URL, "headers": ["X-A:\x00"]}, env={})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--platform", "http://u:Pw-x1@127.0.0.1:1/", "credentials in the URL are not allowed"),
        ("--fallback-create-url", "not a url", "must not contain spaces"),
        ("--verify-url", "ftp://x/{id}", "must be an absolute http:// or https:// URL"),
    ],
)
def test_check_url_flags_follow_the_url_rules(
    capsys: pytest.CaptureFixture[str], flag: str, value: str, expected: str
) -> None:
    assert main(["check", "--url", "http://127.0.0.1:9/", flag, value]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1
    assert flag in err
    assert expected in err
    assert "Pw-x1" not in err
