"""Connections behind a cap and deadlines, around aiohttp's own protocol object.

aiohttp's web server has no cap on connections and no deadline for a request head that
trickles in (its keep-alive timer only starts counting after a response, and defaults to an
hour). `Guarded` wraps the protocol aiohttp creates for each connection instead of subclassing
it, so aiohttp parses and dispatches exactly as under `web.TCPSite`:

- at the cap, a new connection takes the place of the one that has waited longest for a request
  head (a slowloris, or an idle keep-alive connection); only when every connection is busy with
  a request is the new one answered 503 and closed, never queued;
- a request head must complete within `read_timeout_s` of the connection opening, or of its
  first byte on a kept-alive connection;
- a peer that stops reading a response for `read_timeout_s` is aborted.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from .quietlog import Log


@dataclass(frozen=True)
class ServerLimits:
    max_connections: int
    read_timeout_s: float
    idle_timeout_s: float
    max_body_bytes: int


def _plain(status: str, text: str, *extra: str) -> bytes:
    body = text.encode() + b"\n"
    head = [f"HTTP/1.1 {status}", "Connection: close", *extra, "Content-Type: text/plain",
            f"Content-Length: {len(body)}"]  # fmt: skip
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


# Written straight to the transport: these connections are not (or no longer) aiohttp's.
_REFUSAL = _plain("503 Service Unavailable", "too many connections", "Retry-After: 1")
_HEAD_TIMEOUT = _plain("408 Request Timeout", "request head not received in time")


class Gate:
    """The cap, the connections waiting for a request head (oldest first), and counters; one
    per listening server."""

    def __init__(self, limits: ServerLimits, log: Log) -> None:
        self.limits = limits
        self.log = log
        self.open = 0
        self.peak = 0
        self.accepted = 0
        self.refused = 0  # all connections busy: answered 503
        self.evicted = 0  # closed to make room for a new one
        self.head_timeouts = 0
        self.write_timeouts = 0
        self.bodies_refused = 0  # too large, too slow or cut short
        self._waiting: OrderedDict[Guarded, None] = OrderedDict()

    @property
    def busy(self) -> int:
        return self.open - len(self._waiting)

    def admit(self) -> bool:
        if self.open >= self.limits.max_connections:
            if not self._waiting:
                self.refused += 1
                return False
            oldest, _ = self._waiting.popitem(last=False)
            self.evicted += 1
            oldest.close("closed to make room for a new connection")
        self.open += 1
        self.accepted += 1
        self.peak = max(self.peak, self.open)
        return True

    def waiting(self, connection: Guarded) -> None:
        self._waiting[connection] = None  # at the end: the newest waiter

    def working(self, connection: Guarded) -> None:
        self._waiting.pop(connection, None)

    def release(self, connection: Guarded) -> None:
        self._waiting.pop(connection, None)
        self.open -= 1

    def as_json(self) -> dict[str, Any]:
        return {
            "open": self.open,
            "busy": self.busy,
            "peak": self.peak,
            "max": self.limits.max_connections,
            "accepted": self.accepted,
            "refused": self.refused,
            "evicted": self.evicted,
            "head_timeouts": self.head_timeouts,
            "write_timeouts": self.write_timeouts,
            "bodies_refused": self.bodies_refused,
            "read_timeout_s": self.limits.read_timeout_s,
            "idle_timeout_s": self.limits.idle_timeout_s,
            "max_body_bytes": self.limits.max_body_bytes,
        }


class Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the gate and the deadlines. Every protocol
    callback is passed on. The transport's protocol is this object, which is how the guard
    middleware finds it again (`request.transport.get_protocol()`)."""

    def __init__(self, make_inner: Callable[[], asyncio.Protocol], gate: Gate) -> None:
        self._make_inner = make_inner
        self.gate = gate
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._busy = False  # a request head has arrived and its handler has not returned
        self._head_started = False  # bytes of a request head arrived since the last request
        self._released = False  # its place at the gate is given back

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have asyncio.Transport's API without being its subclasses.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        if not self.gate.admit():
            transport.write(_REFUSAL)
            transport.close()
            return
        # Created only once admitted: a refused connection costs no parser.
        self._inner = self._make_inner()
        self.gate.waiting(self)
        self._arm_head()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is None or self._released:
            return  # refused, or being closed while it waited for a head: nothing to parse
        if not self._busy:
            self._head_started = True
            if self._head_timer is None:
                self._arm_head()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._inner is None:
            return
        self._release()
        inner, self._inner = self._inner, None
        inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is None:
            return
        # The peer stopped reading: it gets as long as a request gets to arrive.
        if self._write_timer is None:
            self._write_timer = asyncio.get_running_loop().call_later(
                self.gate.limits.read_timeout_s, self._write_expired
            )
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        if self._inner is not None:
            self._inner.resume_writing()

    # What the guard middleware reports -------------------------------------------------------

    def request_started(self) -> None:
        self._busy = True
        self._head_started = False
        self.gate.working(self)
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def request_finished(self) -> None:
        # The next head's deadline starts with its first byte; until then the connection is
        # idle, which aiohttp's keep-alive timer bounds.
        self._busy = False
        if not self._released:
            self.gate.waiting(self)

    # Closing ----------------------------------------------------------------------------------

    def close(self, why: str) -> None:
        """Close a connection that is waiting for a request head."""
        transport = self._transport
        self._cancel_timers()
        self._release()
        if transport is None or transport.is_closing():
            return
        self.gate.log.info("%s: %s", _peer(transport), why)
        if self._head_started:
            # A slow but genuine client learns why; one that sent nothing gets a plain close,
            # as an idle keep-alive connection would.
            transport.write(_HEAD_TIMEOUT)
        transport.close()

    def _release(self) -> None:
        # Given back when the close starts, not when it ends: the cap counts connections that
        # can still send a request.
        if not self._released:
            self._released = True
            self.gate.release(self)

    def _arm_head(self) -> None:
        self._head_timer = asyncio.get_running_loop().call_later(
            self.gate.limits.read_timeout_s, self._head_expired
        )

    def _head_expired(self) -> None:
        self._head_timer = None
        if self._busy:
            return
        self.gate.head_timeouts += 1
        self.close(f"closed, no complete request head within {self.gate.limits.read_timeout_s:g} s")

    def _write_expired(self) -> None:
        self._write_timer = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self.gate.write_timeouts += 1
        self.gate.log.info(
            "%s: aborted, response not read within %g s",
            _peer(transport),
            self.gate.limits.read_timeout_s,
        )
        transport.abort()

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._write_timer = None


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
