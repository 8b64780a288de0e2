"""Payload control: the user's own values in every body (`--set FIELD=VALUE`, `--unset FIELD`),
their own process ids (`--process-ids FILE`), or their own bodies (`--bodies FILE.jsonl`).

Overrides apply after generation, to each notification as generated, so duplicates and
reordering still happen (a duplicate is the overridden body again). Everything is parsed and
checked once, before anything is sent: a bad field path or a bad line is one line naming it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .quoting import shown

MAX_IDS = 10_000_000
MAX_BODY_LINES = 10_000_000


@dataclass(frozen=True, slots=True)
class Change:
    path: tuple[str, ...]  # dotted FIELD, split
    value: Any = None
    remove: bool = False  # --unset


def _path(text: str, flag: str) -> tuple[str, ...]:
    parts = tuple(text.split("."))
    if not text or any(not part.strip() or part != part.strip() for part in parts):
        raise ConfigError(
            f"{flag} = {shown(text)}: not a field path (names joined by dots, e.g. status or "
            "extra.trace)"
        )
    return parts


def parse_set(text: str) -> Change:
    """`FIELD=VALUE`: VALUE as JSON when it parses as JSON (`7`, `true`, `"expired"`, `{...}`),
    else as the text it is."""
    field, sep, raw = text.partition("=")
    if not sep:
        raise ConfigError(f"--set = {shown(text)}: not FIELD=VALUE (e.g. status=7, result=expired)")
    try:
        # NaN, Infinity and 1e999 parse in Python but are not JSON: a receiver would refuse
        # the body, so they are taken as the text they are.
        value = json.loads(raw, parse_constant=_not_json, parse_float=_finite)
    except (ValueError, RecursionError):
        value = raw
    return Change(_path(field, "--set"), value)


def _not_json(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is not a finite number")
    return value


def parse_unset(text: str) -> Change:
    return Change(_path(text, "--unset"), remove=True)


@dataclass(frozen=True, slots=True)
class Edit:
    """The --set and --unset changes, applied in the order given."""

    changes: tuple[Change, ...]

    @classmethod
    def of(cls, sets: Iterable[str] = (), unsets: Iterable[str] = ()) -> Edit | None:
        changes = (*map(parse_set, sets), *map(parse_unset, unsets))
        return cls(changes) if changes else None

    def apply(self, payload: dict[str, Any], *, strict: bool = False) -> dict[str, Any]:
        """A changed copy of `payload`. `strict` (the check before sending): a field to unset
        must be there; in a run, one that this body lacks (a lastEvent on an ok result) is
        left alone. A field on the way that is not an object is refused (ValueError)."""
        out = copy.deepcopy(payload)
        for change in self.changes:
            target: Any = out
            for depth, name in enumerate(change.path[:-1]):
                if change.remove and name not in target:
                    if strict:
                        raise ValueError(f"{'.'.join(change.path)}: no field {name!r} to unset")
                    break
                target = target.setdefault(name, {})
                if not isinstance(target, dict):
                    where = ".".join(change.path[: depth + 1])
                    raise ValueError(f"{'.'.join(change.path)}: {where} is not an object")
            else:
                last = change.path[-1]
                if not change.remove:
                    target[last] = copy.deepcopy(change.value)
                elif last in target:
                    del target[last]
                elif strict:
                    raise ValueError(f"{'.'.join(change.path)}: no such field to unset")
        return out

    def check(self, full: dict[str, Any], flow: str) -> None:
        """Refuse, before anything is sent, changes that cannot apply to this flow's bodies:
        `full` is a body with every field the flow may send."""
        try:
            self.apply(full, strict=True)
        except ValueError as exc:
            path = str(exc).split(":", 1)[0]
            removed = any(c.remove and ".".join(c.path) == path for c in self.changes)
            flag = "--unset" if removed or "unset" in str(exc) else "--set"
            raise ConfigError(f"{flag}: {exc} (a {flow} body has: {', '.join(full)})") from None


@dataclass(frozen=True)
class PayloadControl:
    edit: Edit | None = None
    process_ids: tuple[str, ...] = ()
    bodies: tuple[bytes, ...] = ()

    def described(self) -> dict[str, Any]:
        """What every shard must agree on (the files by digest, not by content)."""

        def digest(items: tuple[Any, ...]) -> str | None:
            if not items:
                return None
            h = hashlib.sha256()
            for item in items:
                h.update(item if isinstance(item, bytes) else item.encode())
                h.update(b"\n")
            return h.hexdigest()[:16]

        changes = [
            {"path": ".".join(c.path), "unset": c.remove, "value": c.value}
            for c in (self.edit.changes if self.edit else ())
        ]
        return {"changes": changes, "process_ids": digest(self.process_ids),
                "bodies": digest(self.bodies)}  # fmt: skip


NO_PAYLOAD = PayloadControl()


def read_lines(source: Path, flag: str) -> Iterable[tuple[int, bytes]]:
    """The lines of `source` (`-`: stdin), numbered from 1, without their line ends."""
    try:
        data = sys.stdin.buffer.read() if str(source) == "-" else source.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{flag} = {source}: cannot read it ({exc.strerror})") from None
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark: the file's, not a body's
        data = data[3:]
    for number, line in enumerate(data.split(b"\n"), 1):
        yield number, line.rstrip(b"\r")


def read_process_ids(source: Path) -> tuple[str, ...]:
    """One id per line; blank lines are skipped. Ids are sent as they are: text without
    control characters, at most 200 characters."""
    ids: list[str] = []
    for number, raw in read_lines(source, "--process-ids"):
        line = raw.strip()
        if not line:
            continue
        try:
            text = line.decode()
        except UnicodeDecodeError:
            raise ConfigError(f"{source}:{number}: not UTF-8 text") from None
        if len(text) > 200 or not text.isprintable():
            raise ConfigError(
                f"{source}:{number}: {shown(text[:60])} is not an id (printable text, at most "
                "200 characters)"
            )
        ids.append(text)
        if len(ids) > MAX_IDS:
            raise ConfigError(f"{source}: more than {MAX_IDS} ids")
    if not ids:
        raise ConfigError(f"--process-ids = {source}: no id in it (one per line)")
    return tuple(ids)


def read_bodies(source: Path, flow: str) -> tuple[bytes, ...]:
    """One JSON object per line, sent byte for byte; blank lines are skipped. A line that is
    not one (or not a body of `flow`: no processId / id) is refused with its number."""
    key = "id" if flow == "by-client" else "processId"
    bodies: list[bytes] = []
    for number, line in read_lines(source, "--bodies"):
        if not line.strip():
            continue
        try:
            payload = json.loads(line)
        except (ValueError, RecursionError) as exc:
            reason = " ".join(str(exc).split())[:100]
            raise ConfigError(f"{source}:{number}: not JSON ({reason})") from None
        if not isinstance(payload, dict):
            raise ConfigError(f"{source}:{number}: a JSON {type(payload).__name__}, not an object")
        if key not in payload:
            raise ConfigError(f"{source}:{number}: no {key!r}: not a {flow} notification body")
        bodies.append(line)
        if len(bodies) > MAX_BODY_LINES:
            raise ConfigError(f"{source}: more than {MAX_BODY_LINES} bodies")
    if not bodies:
        raise ConfigError(f"--bodies = {source}: no body in it (one JSON object per line)")
    return tuple(bodies)
