from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dispatcher.errors import ConfigError
from dispatcher.settings import (
    RunOptions,
    SendOptions,
    TrafficSettings,
    build_settings,
    load_yaml,
    redact_url,
    scrub,
    secret_values,
    validate_flags,
)

URL = "http://127.0.0.1:9/hook"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_are_the_documented_ones() -> None:
    s = build_settings(flags={"url": URL}, env={})
    assert (s.flow, s.payload_profile, s.max_attempts, s.interval_s, s.timeout_s) == (
        "by-unico",
        "current",
        5,
        1.0,
        10.0,
    )
    assert s.concurrency == 100
    assert s.auth.type == "none"


@pytest.mark.parametrize("suffix", ["toml", "yaml"])
def test_same_keys_in_toml_and_yaml(tmp_path: Path, suffix: str) -> None:
    toml = f"""
url = "{URL}"
flow = "by-client"
max_attempts = 3
interval_s = 0.5
timeout_s = 2
concurrency = 20
notify = [3, 4]
[auth]
type = "api-key"
api_key = "X-API-Key:abc"
"""
    yaml = f"""
url: {URL}
flow: by-client
max_attempts: 3
interval_s: 0.5
timeout_s: 2
concurrency: 20
notify: [3, 4]
auth:
  type: api-key
  api_key: "X-API-Key:abc"
"""
    path = write(tmp_path, f"c.{suffix}", toml if suffix == "toml" else yaml)
    s = build_settings(config=path, env={})
    assert s.flow == "by-client"
    assert s.max_attempts == 3
    assert s.concurrency == 20
    assert s.notified == ("3", "4")
    assert s.auth.api_key is not None
    assert s.auth.api_key.get_secret_value() == "X-API-Key:abc"


def test_flags_win_over_file_and_env(tmp_path: Path) -> None:
    path = write(tmp_path, "c.toml", f'url = "{URL}"\nmax_attempts = 3\n[auth]\nbasic = "a:b"\n')
    s = build_settings(
        config=path,
        flags={"max_attempts": 7, "auth.basic": "c:d"},
        env={"WEBHOOK_SIM_BASIC": "e:f"},
    )
    assert s.max_attempts == 7
    assert s.auth.type == "basic"
    assert s.auth.basic is not None
    assert s.auth.basic.get_secret_value() == "c:d"


def test_secret_from_environment_and_var_reference(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.yaml",
        f"url: {URL}\nauth:\n  type: oauth2\n  token_url: http://127.0.0.1:9/t\n"
        "  client_id: ${CID}\n",
    )
    s = build_settings(config=path, env={"CID": "me", "WEBHOOK_SIM_CLIENT_SECRET": "shh"})
    assert s.auth.client_id == "me"
    assert s.auth.client_secret is not None
    assert s.auth.client_secret.get_secret_value() == "shh"


def test_unset_var_reference_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "c.toml", f'url = "{URL}"\n[auth]\nbasic = "${{NOPE}}"\n')
    with pytest.raises(ConfigError, match=r"auth\.basic refers to \$\{NOPE\}, which is not set"):
        build_settings(config=path, env={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("concurrency = 501", r"c\.toml: concurrency = 501: .*less than or equal to 500"),
        ("concurrency = 0", r"concurrency = 0: .*greater than or equal to 1"),
        ("colour = 'red'", r"unknown key 'colour' \(allowed: url, flow, "),
        ("[auth]\ntype = 'digest'", r"auth\.type = 'digest': .*'none', 'basic', 'api-key' or"),
        ("[auth]\npassword = 'x'", r"unknown key 'auth\.password' \(allowed: type, basic, "),
        ("flow = 'by-unico'\nnotify = ['great']", r"notify: 'great' is not a by-unico result"),
        ("timeout_s = -1", r"timeout_s = -1"),
        ("url = 'ftp://x'", r"url = 'ftp://x': must be an absolute http"),
    ],
)
def test_bad_values_are_one_line_naming_key_value_and_rule(
    tmp_path: Path, text: str, message: str
) -> None:
    if not text.startswith("url"):
        text = f'url = "{URL}"\n' + text
    path = write(tmp_path, "c.toml", text)
    with pytest.raises(ConfigError, match=message) as info:
        build_settings(config=path, env={})
    assert "\n" not in str(info.value)


def test_flag_errors_name_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--interval = -2\.0: "):
        build_settings(flags={"url": URL, "interval_s": -2.0}, env={})


def test_auth_requirements() -> None:
    # auth.type came from a flag, so the message names the flag.
    with pytest.raises(ConfigError, match=r"^auth\.client_id is required when --auth is oauth2"):
        build_settings(flags={"url": URL, "auth.type": "oauth2", "auth.token_url": URL}, env={})
    with pytest.raises(ConfigError, match="USER:PASS"):
        build_settings(flags={"url": URL, "auth.basic": "no-colon"}, env={})


def test_secrets_never_in_error_messages() -> None:
    with pytest.raises(ConfigError) as info:
        build_settings(flags={"url": URL, "auth.basic": "no-colon-secret"}, env={})
    assert "no-colon-secret" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        build_settings(
            flags={"url": URL, "auth.type": "oauth2", "auth.client_secret": "topsecret"}, env={}
        )
    assert "topsecret" not in str(info.value)


def test_redacted_settings_hide_every_secret() -> None:
    for flags in (
        {"auth.basic": "user:pa55"},
        {"auth.api_key": "X-Key:pa55"},
        {"auth.api_key": "pa55"},
        {
            "auth.token_url": URL,
            "auth.client_id": "cid",
            "auth.client_secret": "pa55",
        },
    ):
        s = build_settings(flags={"url": URL, **flags}, env={})
        assert "pa55" not in str(s.redacted())
        assert "pa55" not in repr(s)
        assert scrub("echo pa55 back", secret_values(s.auth)) == "echo *** back"


@pytest.mark.parametrize("path", sorted(Path("config").glob("*.*")), ids=lambda p: p.name)
def test_shipped_example_configs_are_valid(path: Path) -> None:
    env = {
        "RECEIVER_BASIC": "integrator:s3cret",
        "WEBHOOK_SIM_API_KEY": "X-API-Key:abc123",
        "WEBHOOK_SIM_CLIENT_SECRET": "s3cret",
    }
    s = build_settings(config=path, env=env)
    assert s.auth.type == path.stem


def test_a_credential_in_the_environment_names_the_scheme() -> None:
    s = build_settings(flags={"url": URL}, env={"WEBHOOK_SIM_API_KEY": "X-K:v"})
    assert s.auth.type == "api-key"
    s = build_settings(flags={"url": URL, "auth.type": "none"}, env={"WEBHOOK_SIM_BASIC": "a:b"})
    assert s.auth.type == "none"  # an explicit choice wins
    both = {"WEBHOOK_SIM_API_KEY": "k", "WEBHOOK_SIM_BASIC": "a:b"}
    assert build_settings(flags={"url": URL}, env=both).auth.type == "none"  # ambiguous


# Hostile input at the library edge (the CLI's cases are in test_hostile_input.py) ------------


def test_flag_only_messages_have_no_source_prefix() -> None:
    # The CLI prefixes "webhook-sim: error: "; a second "webhook-sim: " was the bug.
    with pytest.raises(ConfigError) as info:
        build_settings(flags={"url": URL, "notify": ","}, env={})
    assert str(info.value) == "--statuses must name at least one status"
    with pytest.raises(ConfigError) as info:
        validate_flags(TrafficSettings, {"count": 1, "colour": 2})
    assert str(info.value).startswith("unknown key 'colour' (allowed: count, ")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"interval_s": 5, "max_interval_s": 1}, "--max-interval = 1: must be at least --interval"),
        ({"interval_s": 61}, "--interval = 61: must be at most max_interval_s (60 by default"),
        (
            {"interval_s": 5, "max_interval_s": 1, "notify": "ok"},
            "--max-interval = 1: must be at least --interval (5)",
        ),
    ],
)
def test_max_interval_is_a_rule_of_its_own(flags: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_settings(flags={"url": URL, **flags}, env={})
    assert str(info.value).startswith(message)


def test_credentials_in_urls_are_refused_without_echoing_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        build_settings(flags={"url": "http://user:pa55word@127.0.0.1:9/h"}, env={})
    assert str(info.value).startswith("--url = 'http://***@127.0.0.1:9/h': credentials in the")
    assert "pa55word" not in str(info.value)
    assert "user" not in str(info.value)
    path = write(tmp_path, "c.yaml", "url: https://u:pa55word@example.test/\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: url = 'https://\*\*\*@example") as info:
        build_settings(config=path, env={})
    assert "pa55word" not in str(info.value)
    with pytest.raises(ConfigError, match=r"^--token-url = 'http://\*\*\*@h/t': .*--client-id"):
        build_settings(flags={"url": URL, "auth.token_url": "http://c:pa55word@h/t"}, env={})
    assert redact_url("http://h/a@b") == "http://h/a@b"  # an @ in the path is not userinfo
    assert redact_url("https://a:b@c@d/e") == "https://***@d/e"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("X-Key:", "header X-Key has an empty value"),
        ("X-Key:  ", "header X-Key has an empty value"),
        ("X-Key:abc\r\n", "no control characters"),
        ("abc\x00", "no control characters"),
        ("\nabc", "no control characters"),
        ("X-Key:caf\u00e9", "one line of ASCII"),
        ("X Key:abc", "header name 'X Key' is not a valid header name"),
        ("Host:abc", "Host cannot carry an API key (not allowed: Content-Length, "),
    ],
)
def test_bad_api_keys_are_named_but_never_shown(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_settings(flags={"url": URL, "auth.api_key": spec}, env={})
    assert str(info.value).startswith("--api-key = ***: ")
    assert message in str(info.value)
    assert "abc" not in str(info.value)


def test_an_api_key_value_alone_and_a_tab_inside_are_fine() -> None:
    s = build_settings(flags={"url": URL, "auth.api_key": "tok\ten"}, env={})
    assert s.auth.api_key is not None
    assert s.auth.api_key.get_secret_value() == "tok\ten"


def test_yaml_aliases_and_deep_nesting_are_refused_before_any_walk(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^x\.yaml: line 2: YAML anchors and aliases"):
        load_yaml("a: 1\nb: &b [1]\nc: *b\n", "x.yaml")
    with pytest.raises(ConfigError, match=r"^x\.yaml: line 1: nested more than 32 levels deep"):
        load_yaml("[" * 40 + "]" * 40, "x.yaml")
    assert load_yaml("a: [1, {b: c}]\n", "x.yaml") == {"a": [1, {"b": "c"}]}
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(40):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ConfigError, match=r"^s: settings: nested more than 32 levels deep \(at a"):
        build_settings(scenario=("s", deep), flags={"url": URL}, env={})


def test_a_ca_bundle_is_loaded_once_at_validation(tmp_path: Path) -> None:
    folder = tmp_path / ("long-folder-name-" * 5)
    folder.mkdir()
    path = write(folder, "ca.pem", "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigError) as info:
        build_settings(flags={"url": URL, "ca_bundle": str(path)}, env={})
    message = str(info.value)
    # A long path keeps its end, where the file's name is.
    assert message.startswith("--ca-bundle = '...")
    assert message.endswith(
        "/ca.pem': not a PEM file of CA certificates (a certificate block is damaged)"
    )


def test_run_and_send_options() -> None:
    assert validate_flags(RunOptions, {"grace_s": 0, "progress_every_s": 0.2}).grace_s == 0
    for flags, message in (
        ({"grace_s": float("nan")}, "--grace = nan: Input should be a finite number"),
        ({"grace_s": float("inf")}, "--grace = inf: Input should be a finite number"),
        ({"progress_every_s": -1.0}, "--progress-every = -1.0: Input should be greater than 0"),
        ({"result": "maybe"}, "--result = 'maybe': not a by-Unico result (allowed: ok, expired"),
    ):
        model = SendOptions if "result" in flags else RunOptions
        with pytest.raises(ConfigError) as info:
            validate_flags(model, flags)
        assert str(info.value).startswith(message)
