"""Sending from chosen local addresses (--source-address): whether an address can be bound on
this machine, and the socket factory both HTTP clients open new connections with.

Standard library only: the settings import it to refuse an address before anything is sent,
and `dispatcher.leanhttp` to connect, neither of which may pull in an HTTP client.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from typing import Any

# What getaddrinfo returns for one address, and what aiohappyeyeballs hands a socket factory.
AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]
FAMILY_NAMES: dict[int, str] = {socket.AF_INET: "IPv4", socket.AF_INET6: "IPv6"}


def family_of(address: str) -> socket.AddressFamily:
    """The socket family of an IP address (ValueError when it is not one)."""
    version = ipaddress.ip_address(address).version
    return socket.AF_INET if version == 4 else socket.AF_INET6


def bind_error(address: str) -> str | None:
    """Why a connection could not come from `address` on this machine (the OS's words: "Cannot
    assign requested address"), or None when it can. Binding port 0 and closing at once takes
    no port for longer than the call."""
    try:
        with socket.socket(family_of(address), socket.SOCK_STREAM) as sock:
            sock.bind((address, 0))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def source_address(value: str) -> str:
    """`value` as an address connections can come from on this machine (in its normal form),
    or a ValueError saying why not."""
    try:
        address = str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("must be an IPv4 or IPv6 address") from None
    # Bound once up front, as every connection will be, so that an address this machine does
    # not have is refused before anything is sent, not as the failure of every connection.
    why = bind_error(address)
    if why is not None:
        raise ValueError(f"cannot bind it on this machine ({why})")
    return address


class SourceAddresses:
    """The local addresses new connections bind to, taken in turn: each connection takes the
    next address of its receiver address's family (an IPv4 receiver is never sent an IPv6
    source, nor the reverse). Kept-alive connections keep their address."""

    def __init__(self, addresses: Sequence[str]) -> None:
        if not addresses:
            raise ValueError("no source address")
        self._by_family: dict[int, list[str]] = {}
        for address in addresses:
            self._by_family.setdefault(family_of(address), []).append(address)
        self._next = dict.fromkeys(self._by_family, 0)

    def take(self, family: int) -> str | None:
        """The next address of `family`, or None when none was given."""
        addresses = self._by_family.get(family)
        if addresses is None:
            return None
        index = self._next[family]
        self._next[family] = (index + 1) % len(addresses)
        return addresses[index]

    def socket(self, addr_info: AddrInfo) -> socket.socket:
        """An unconnected socket for `addr_info` (the receiver's address), bound to the next
        source address of its family; OSError when there is none (the message says so, as the
        connection's failure)."""
        family, kind, proto, _, target = addr_info
        address = self.take(family)
        if address is None:
            given = " or ".join(FAMILY_NAMES.get(f, str(f)) for f in self._by_family)
            raise OSError(
                f"no --source-address of the receiver's family: {target[0]} is "
                f"{FAMILY_NAMES.get(family, str(family))}, the source addresses are {given}"
            )
        sock = socket.socket(family, kind, proto)
        try:
            sock.bind((address, 0))
        except OSError:
            sock.close()
            raise
        return sock
