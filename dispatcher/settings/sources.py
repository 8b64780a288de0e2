"""Where a setting can come from besides a file: the flag that sets each key, and the
environment variable that holds each secret. Error messages name the flag from the same tables
the CLI picks its flags by."""

from __future__ import annotations

ENV_SECRETS = {
    "basic": "WEBHOOK_SIM_BASIC",
    "api_key": "WEBHOOK_SIM_API_KEY",
    "client_secret": "WEBHOOK_SIM_CLIENT_SECRET",
}
# Command-line parameter → settings key, for every flag that sets a setting.
FLAG_KEYS = {
    "url": "url",
    "webhook_url": "url",
    "auth": "auth.type",
    "basic": "auth.basic",
    "api_key": "auth.api_key",
    "token_url": "auth.token_url",
    "client_id": "auth.client_id",
    "client_secret": "auth.client_secret",
    "scope": "auth.scope",
    "client_auth": "auth.client_auth",
    "flow": "flow",
    "payload_profile": "payload_profile",
    "max_attempts": "max_attempts",
    "interval": "interval_s",
    "max_interval": "max_interval_s",
    "timeout": "timeout_s",
    "concurrency": "concurrency",
    "max_rate": "max_rate",
    "statuses": "notify",
    "header": "headers",
    "secret_header": "secret_headers",
    "ca_bundle": "ca_bundle",
    "insecure": "insecure",
    "source_address": "source_addresses",
    "adaptive": "throttle.enabled",
    "throttle_window": "throttle.window_s",
    "throttle_threshold": "throttle.threshold",
    "throttle_decrease": "throttle.decrease",
}
# The traffic flags of run and load (validated as TrafficSettings).
TRAFFIC_FLAG_KEYS = {"unknown_status": "unknown"}
# Flags of run, load and send that are not settings (validated as RunOptions, SendOptions).
OPTION_FLAG_KEYS = {"grace": "grace_s", "progress_every": "progress_every_s", "result": "result"}
# Settings key → the flag that sets it; the first parameter named for a key wins (--url).
FLAG_NAMES = {
    key: "--" + name.replace("_", "-")
    for name, key in reversed(
        [*FLAG_KEYS.items(), *TRAFFIC_FLAG_KEYS.items(), *OPTION_FLAG_KEYS.items()]
    )
}


def flag_name(key: str) -> str:
    """The flag that sets a settings key: `max_interval_s` → `--max-interval`."""
    return FLAG_NAMES.get(key, "--" + key.replace("_", "-"))
