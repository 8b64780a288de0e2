"""`webhook_sim_receiver`: the sandbox receiver on a free loopback port, served from a thread of
its own for one test, with its counters and the switches that make it misbehave."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .background import BackgroundLoop

if TYPE_CHECKING:
    from ..receiver import ReceiverConfig, RunningReceiver

# What a running sandbox reads on every request: these take effect at once. The rest (the
# credentials, the seed of its failures, its limits) is fixed when it starts.
RUNTIME_KEYS = frozenset({"fail_rate", "fail_first", "latency_ms", "status", "flaws", "slow_ms"})


@dataclass(frozen=True)
class ReceiverStats:
    """The sandbox's `/_stats`, typed: what it received and how it answered."""

    received: int
    accepted: int
    rejected_auth: int
    invalid_payload: int
    unique: int  # notifications answered 2xx at least once
    duplicates: int  # deliveries of a notification already answered 2xx
    injected_failures: int
    unknown: int
    extra_fields: int
    in_flight: int
    peak_in_flight: int
    token_requests: int
    tokens_issued: int
    responses: Mapping[int, int]  # answers by HTTP status
    raw: Mapping[str, Any]  # the whole document, its dedup, processes and connections included

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> ReceiverStats:
        counters = {
            name: int(document[name])
            for name in cls.__dataclass_fields__
            if name not in ("responses", "raw")
        }
        responses = {int(code): int(n) for code, n in document["responses"].items()}
        return cls(**counters, responses=responses, raw=dict(document))


def receiver_config(seed: int | None, options: Mapping[str, Any]) -> ReceiverConfig:
    from pydantic import ValidationError

    from ..receiver import ReceiverConfig
    from ..settings import describe_validation_error

    try:
        return ReceiverConfig.model_validate({"seed": seed, **options})
    except ValidationError as exc:
        raise ConfigError(
            describe_validation_error(exc, "webhook_sim receiver", model=ReceiverConfig)
        ) from None


class SandboxReceiver:
    """The sandbox receiver for one test. `url` takes notifications (any path), `verify_url`
    is its own view of a process (for `check(verify_url=...)`), `credentials` the sender options
    it expects."""

    def __init__(self, config: ReceiverConfig) -> None:
        from ..receiver import start_receiver

        self._loop = BackgroundLoop("webhook-sim receiver")
        try:
            self._running: RunningReceiver = self._loop.call(start_receiver(config))
        except BaseException:
            self._loop.close()
            raise
        self.url = self._running.url
        self.verify_url = self.url + "/processes/{id}"

    @property
    def config(self) -> ReceiverConfig:
        return self._running.sandbox.config

    @property
    def credentials(self) -> dict[str, str]:
        """The options a sender needs to get in: `webhook_sim.check(r.url, **r.credentials)`."""
        from ..receiver.app import TOKEN_PATH

        cfg = self.config
        found: dict[str, str] = {"auth": cfg.auth}
        if cfg.auth == "basic" and cfg.basic is not None:
            found["basic"] = cfg.basic.get_secret_value()
        elif cfg.auth == "api-key" and cfg.api_key is not None:
            found["api_key"] = cfg.api_key.get_secret_value()
        elif cfg.auth == "oauth2" and cfg.client_id and cfg.client_secret is not None:
            found["client_id"] = cfg.client_id
            found["client_secret"] = cfg.client_secret.get_secret_value()
            found["token_url"] = self.url + TOKEN_PATH
        return found

    def stats(self) -> ReceiverStats:
        """Its `/_stats` now, read on its own thread (no HTTP request, nothing to wait for)."""
        sandbox = self._running.sandbox

        def read() -> dict[str, Any]:
            document = sandbox.state.as_json()
            if sandbox.gate is not None:
                document["connections"] = sandbox.gate.as_json()
            return document

        return ReceiverStats.of(self._loop.run(read))

    def process(self, process_id: str) -> dict[str, Any] | None:
        """What it believes about a process (as `GET verify_url` answers), None if unknown."""
        state = self._running.sandbox.state
        return self._loop.run(lambda: state.processes.get(process_id))

    def set_flaws(self, *flaws: str) -> None:
        """Misbehave from now on in these ways only (none: behave): any-credentials,
        duplicate-409, duplicate-500, unknown-500, extra-field-500, regress, slow."""
        self.configure(flaws=tuple(flaws))

    def configure(self, **changes: Any) -> None:
        """Change what it does from the next request on: fail_rate, fail_first, latency_ms,
        status, flaws, slow_ms. Credentials are fixed at start: set them with the marker,
        `@pytest.mark.webhook_sim(receiver={"basic": "user:pass"})`."""
        fixed = sorted(set(changes) - RUNTIME_KEYS)
        if fixed:
            raise ConfigError(
                f"{', '.join(fixed)}: fixed when the receiver starts; set with "
                "@pytest.mark.webhook_sim(receiver={...}) (changeable: "
                f"{', '.join(sorted(RUNTIME_KEYS))})"
            )
        sandbox = self._running.sandbox
        config = receiver_config(sandbox.config.seed, {**sandbox.config.model_dump(), **changes})

        def apply() -> None:
            sandbox.config = config

        self._loop.run(apply)

    def close(self) -> None:
        try:
            self._loop.call(self._running.close())
        finally:
            self._loop.close()
