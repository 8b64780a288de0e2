"""The platform's processes: their lifecycle, their notifications and what became of them.

A `World` is the one mutable state of platform mode. It decides when a process finishes and
how, hands each state change to a notifier (the engine's live feed) unless a webhook outage is
on, and records everything an integrator did: every GetProcess call, every notification attempt.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ..errors import ConfigError
from ..payloads import Notification, by_client_payload, by_unico_payload, notification
from ..traffic import UNICO_RESULTS

OutageMode = Literal["drop", "delay"]
Fate = Literal["queued", "dropped", "delayed", "delivered", "exhausted", "cancelled"]
GETPROCESS_RESULTS = {
    "ok": "PROCESS_RESULT_OK",
    "expired": "PROCESS_RESULT_EXPIRED",
    "invalid_identity": "PROCESS_RESULT_INVALID_IDENTITY",
}


def iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


@dataclass
class Sent:
    """One notification of a process and its fate."""

    key: str
    emitted_at: float  # when the state change happened (epoch seconds)
    fate: Fate
    attempts: list[dict[str, Any]] = field(default_factory=list)
    reordered: bool = False  # sent after the process's later status
    duplicates: int = 0  # extra copies sent (at-least-once delivery)
    sent_at: float | None = None  # when it was handed to the engine (after a delay: later)
    delivered_at: float | None = None


@dataclass
class Process:
    id: str
    flow: str  # "by-unico" | "by-client"
    created_at: float
    request: dict[str, Any]
    path: tuple[str, ...]  # by-unico: (result,); by-client: statuses as strings, e.g. ("2", "3")
    step: int = 0  # how many states of the path have been reached
    finished_at: float | None = None
    notifications: list[Sent] = field(default_factory=list)
    polls: list[float] = field(default_factory=list)
    held: tuple[Sent, Notification] | None = None  # an earlier status held back (reorder)

    @property
    def final(self) -> bool:
        return self.step == len(self.path)

    @property
    def current(self) -> str | None:
        return self.path[self.step - 1] if self.step else None

    def as_json(self) -> dict[str, Any]:
        polls_after = [
            t for t in self.polls if self.finished_at is not None and t >= self.finished_at
        ]
        missed = [n for n in self.notifications if n.fate in ("dropped", "delayed")]
        learned = self._learned_at()
        return {
            "id": self.id,
            "flow": self.flow,
            "created_at": iso(self.created_at),
            "finished_at": iso(self.finished_at) if self.finished_at else None,
            "final": self.current if self.final else None,
            "notifications": [
                {
                    "key": n.key,
                    "emitted_at": iso(n.emitted_at),
                    "fate": n.fate,
                    "sent_at": iso(n.sent_at) if n.sent_at else None,
                    "reordered": n.reordered,
                    "duplicates": n.duplicates,
                    "delivered_at": iso(n.delivered_at) if n.delivered_at else None,
                    "attempts": n.attempts,
                }
                for n in self.notifications
            ],
            "get_process_calls": [iso(t) for t in self.polls],
            "fallback": {
                "webhook_missed": bool(missed),
                "polled_after_finish": bool(polls_after),
                "learned_final_after_s": (
                    round(learned - self.finished_at, 3)
                    if learned is not None and self.finished_at is not None
                    else None
                ),
            },
        }

    def _learned_at(self) -> float | None:
        """When the integrator could first know the final state: a poll after the finish, or
        the delivery of the final notification, whichever came first."""
        if self.finished_at is None:
            return None
        candidates = [t for t in self.polls if t >= self.finished_at]
        last = self.notifications[-1] if self.notifications else None
        if last is not None and last.delivered_at is not None and self.final:
            candidates.append(last.delivered_at)
        return min(candidates) if candidates else None


@dataclass(frozen=True)
class Mix:
    """How processes end: weights over by-Unico results, or by-Client status paths."""

    @staticmethod
    def parse_unico(text: str) -> tuple[tuple[str, float], ...]:
        """`ok=70,expired=20,invalid_identity=10`."""
        pairs = _weights(text, "--unico-mix")
        for result, _ in pairs:
            if result not in GETPROCESS_RESULTS:
                raise ConfigError(
                    f"--unico-mix = {text!r}: {result!r} is not a result "
                    f"(allowed: {', '.join(GETPROCESS_RESULTS)})"
                )
        return pairs

    @staticmethod
    def parse_client(text: str) -> tuple[tuple[tuple[int, ...], float], ...]:
        """`3=60,2-3=15,4=13,5=12`: a path of statuses, each ending in a final one."""
        parsed = []
        for path, weight in _weights(text, "--client-mix"):
            try:
                statuses = tuple(int(s) for s in path.split("-"))
            except ValueError:
                statuses = ()
            if not statuses or any(s not in (2, 3, 4, 5) for s in statuses) or statuses[-1] == 2:
                raise ConfigError(
                    f"--client-mix = {text!r}: {path!r} is not a path of statuses 2..5 ending "
                    "in 3, 4 or 5 (e.g. 3, 2-3)"
                )
            parsed.append((statuses, weight))
        return tuple(parsed)

    unico: tuple[tuple[str, float], ...] = UNICO_RESULTS
    # Every path ends in a final status (3, 4, 5): a platform process does not stay in
    # divergence forever, and integrators act only on final statuses.
    client: tuple[tuple[tuple[int, ...], float], ...] = (
        ((3,), 0.60),
        ((2, 3), 0.15),
        ((4,), 0.13),
        ((5,), 0.12),
    )

    def draw(self, flow: str, rng: random.Random) -> tuple[str, ...]:
        if flow == "by-unico":
            results, weights = zip(*self.unico, strict=True)
            return (rng.choices(results, weights)[0],)
        paths, weights = zip(*self.client, strict=True)
        return tuple(str(s) for s in rng.choices(paths, weights)[0])


def _weights(text: str, flag: str) -> tuple[tuple[str, float], ...]:
    pairs = []
    for part in text.split(","):
        name, sep, weight = part.partition("=")
        try:
            value = float(weight)
        except ValueError:
            value = -1.0
        if not sep or not name.strip() or not value > 0:
            raise ConfigError(f"{flag} = {text!r}: {part!r} is not NAME=WEIGHT with a weight > 0")
        pairs.append((name.strip(), value))
    return tuple(pairs)


class World:
    def __init__(
        self,
        *,
        notify: Callable[[Notification], None],
        clock: Callable[[], float],
        finish_after: tuple[float, float] = (2.0, 2.0),
        mix: Mix = Mix(),
        seed: int | None = None,
        reorder: float = 0.0,
    ) -> None:
        self.processes: dict[str, Process] = {}
        self._notify = notify
        self._clock = clock
        self._finish_after = finish_after
        self._mix = mix
        self._reorder = reorder
        self._rng = random.Random(seed)
        self.outage: OutageMode | None = None
        self._held: list[tuple[Process, Sent, Notification]] = []

    # Lifecycle --------------------------------------------------------------------------------

    def create(self, flow: str, request: dict[str, Any]) -> Process:
        process_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        process = Process(process_id, flow, self._clock(), request, self._mix.draw(flow, self._rng))
        self.processes[process_id] = process
        return process

    def delay(self) -> float:
        low, high = self._finish_after
        return self._rng.uniform(low, high)

    def advance(self, process: Process) -> bool:
        """The process reaches its next state and notifies it; True if more states follow."""
        process.step += 1
        now = self._clock()
        if process.final:
            process.finished_at = now
        key = process.current or ""
        if process.flow == "by-unico":
            journey = str(process.request.get("flow", "id"))
            payload = by_unico_payload(process.id, flow=journey, result=key)
        else:
            payload = by_client_payload(process.id, int(key))
        note = notification(payload)
        sent = Sent(note.key, now, "queued")
        process.notifications.append(sent)
        if not process.final and self._reorder and self._rng.random() < self._reorder:
            # Order is not guaranteed: this status will go out after the next one.
            process.held = (sent, notification(payload, reordered=True))
            sent.reordered = True
            return True
        self._send(process, sent, note, now)
        if process.final and process.held is not None:
            held, process.held = process.held, None
            self._send(process, held[0], held[1], now)
        return not process.final

    def _send(self, process: Process, sent: Sent, note: Notification, now: float) -> None:
        if self.outage == "drop":
            sent.fate = "dropped"
        elif self.outage == "delay":
            sent.fate = "delayed"
            self._held.append((process, sent, note))
        else:
            sent.sent_at = now
            self._notify(note)

    def start_outage(self, mode: OutageMode) -> None:
        self.outage = mode

    def end_outage(self) -> int:
        """Back to normal; delayed notifications go out now. Returns how many."""
        self.outage = None
        held, self._held = self._held, []
        now = self._clock()
        for _, sent, note in held:
            sent.sent_at = now
            self._notify(note)
        return len(held)

    # What the engine reports back --------------------------------------------------------------

    def _sent(self, note: Notification) -> Sent | None:
        process = self.processes.get(note.process_id)
        if process is None:
            return None
        for sent in reversed(process.notifications):
            if sent.key == note.key and sent.sent_at is not None:
                return sent
        return None

    def attempt(self, note: Notification, outcome: str, latency_s: float) -> None:
        sent = self._sent(note)
        if sent is not None:
            sent.attempts.append(
                {
                    "at": iso(self._clock()),
                    "outcome": outcome,
                    "latency_ms": round(latency_s * 1000, 1),
                    "duplicate": note.duplicate,
                }
            )

    def duplicated(self, note: Notification) -> None:
        sent = self._sent(note)
        if sent is not None:
            sent.duplicates += 1

    def final(
        self, note: Notification, fate: Literal["delivered", "exhausted", "cancelled"]
    ) -> None:
        sent = self._sent(note)
        # A duplicate's outcome does not change what became of the notification itself.
        if sent is not None and not note.duplicate:
            sent.fate = fate
            if fate == "delivered":
                sent.delivered_at = self._clock()

    def polled(self, process: Process) -> None:
        process.polls.append(self._clock())

    # The fallback question ---------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        missed = [
            p for p in self.processes.values()
            if any(n.fate in ("dropped", "delayed") for n in p.notifications)
        ]  # fmt: skip
        answers = [p.as_json()["fallback"] for p in missed]
        learned = [
            a["learned_final_after_s"] for a in answers if a["learned_final_after_s"] is not None
        ]
        return {
            "processes": len(self.processes),
            "finished": sum(p.finished_at is not None for p in self.processes.values()),
            "webhook_missed": len(missed),
            "missed_and_polled": sum(a["polled_after_finish"] for a in answers),
            "missed_never_learned": sum(a["learned_final_after_s"] is None for a in answers),
            "learned_final_after_s_max": max(learned) if learned else None,
        }
