"""`receiver`: the sandbox receiver, configured from flags and the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .flags import Flags, serving, validated


def receiver_config(flags: Flags, env: Mapping[str, str] = os.environ) -> Any:
    """A `ReceiverConfig` (imported with the receiver) from the flags, credentials falling
    back to the same environment variables the sender reads."""
    from ..outfiles import check_target
    from ..receiver import ReceiverConfig
    from ..receiver.allow import parse_networks
    from ..receiver.app import infer_auth
    from ..receiver.serving import check_port

    check_port(flags["port"])
    allow_from = parse_networks(flags.get("allow_from") or (), "--allow-from")
    auth = infer_auth(
        flags.get("auth"),
        basic=flags.get("basic"),
        api_key=flags.get("api_key"),
        client_id=flags.get("client_id"),
        client_secret=flags.get("client_secret"),
        env=env,
    )
    config = validated(
        ReceiverConfig,
        {
            "auth": auth,
            "basic": flags.get("basic") or env.get("WEBHOOK_SIM_BASIC"),
            "api_key": flags.get("api_key") or env.get("WEBHOOK_SIM_API_KEY"),
            "client_id": flags.get("client_id"),
            "client_secret": flags.get("client_secret") or env.get("WEBHOOK_SIM_CLIENT_SECRET"),
            "token_ttl_s": flags.get("token_ttl", 3600),
            "fail_rate": flags.get("fail_rate", 0.0),
            "fail_first": flags.get("fail_first", 0),
            "latency_ms": flags.get("latency_ms", 0.0),
            "status": flags.get("status"),
            "seed": flags.get("seed"),
            "flaws": tuple(flags.get("flaw") or ()),
            "slow_ms": flags.get("slow_ms", 2000.0),
            **serving(flags),
            "dedup_exact_keys": flags.get("dedup_exact_keys", 1_000_000),
            "record": flags.get("record"),
            "allow_from": allow_from,
        },
        "receiver",
    )
    if config.record is not None:
        check_target(config.record, "--record")  # before listening: a typo costs no run
    return config
