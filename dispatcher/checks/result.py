"""The verdict of one named check or expectation: what JUnit and the JSON report are made of."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    description: str
    status: Status
    message: str = ""  # one line: why it failed or was skipped
    evidence: tuple[str, ...] = field(default=())  # what was sent and what came back
    duration_s: float = 0.0
    needs: str = ""  # the evidence a pass rests on ("" where a verdict has no such statement)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "message": self.message,
            "evidence": list(self.evidence),
            "needs": self.needs,
            "duration_s": round(self.duration_s, 3),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckResult:
        """`as_json` read back (a shard's verdicts, merged)."""
        status = data.get("status")
        return cls(
            str(data.get("name", "")),
            str(data.get("description", "")),
            status if status in ("passed", "failed", "skipped") else "failed",
            str(data.get("message", "")),
            tuple(str(e) for e in data.get("evidence", ())),
            float(data.get("duration_s", 0.0)),
            str(data.get("needs", "")),
        )


def tally(statuses: Iterable[str]) -> str:
    """`3 passed, 1 failed, 0 skipped`: how a set of verdicts ended, as every output says it."""
    seen = list(statuses)
    return ", ".join(f"{seen.count(s)} {s}" for s in ("passed", "failed", "skipped"))
