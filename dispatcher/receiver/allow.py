"""`receiver --allow-from`: the source addresses the sandbox receiver answers at all.

The source is the TCP peer, never a header: X-Forwarded-For and Forwarded are written by
the client, so an allowlist that read them would let anyone in by saying they are allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from ..errors import ConfigError
from ..quoting import shown

Network = IPv4Network | IPv6Network
ALLOWED = "an IPv4 or IPv6 network in CIDR notation (10.0.0.0/8, fd00::/8) or one address"


def parse_network(text: str) -> Network:
    """`text` as a network; a ValueError saying why it is not one."""
    try:
        return ip_network(text.strip())
    except ValueError as exc:
        if "host bits set" in str(exc):
            # Taken as written, 10.1.2.3/8 would allow a network the user may not have meant.
            near = ip_network(text.strip(), strict=False)
            raise ValueError(f"has host bits set (the network is {near})") from None
        raise ValueError("is not an IP network") from None


def parse_networks(values: Iterable[str], flag: str) -> tuple[Network, ...]:
    """Every value as a network; the first bad one is a one-line ConfigError naming `flag`."""
    networks = []
    for value in values:
        try:
            networks.append(parse_network(value))
        except ValueError as exc:
            raise ConfigError(f"{flag} = {shown(value)}: {exc}; allowed: {ALLOWED}") from None
    return tuple(networks)


def source_allowed(networks: Iterable[Network], host: str | None) -> bool:
    """Whether a peer at `host` is inside one of `networks`; an unknown peer is not."""
    if host is None:
        return False
    try:
        address = ip_address(host)
    except ValueError:
        return False
    # A dual-stack listener sees an IPv4 client as ::ffff:a.b.c.d: it is that IPv4 address.
    mapped = getattr(address, "ipv4_mapped", None)
    return any(address in net or (mapped is not None and mapped in net) for net in networks)
