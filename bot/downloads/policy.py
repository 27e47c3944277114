"""Which addresses a result download may connect to.

Over https: any public address, plus the networks in DOWNLOAD_ALLOW_NETWORKS. Over plain http: only
those networks (the operator's own, trusted storage). Everything that is not a public address is
refused unless allowed: loopback, private, link-local (cloud metadata lives at 169.254.169.254),
multicast, reserved, unspecified, unique-local and site-local, with IPv4 addresses carried inside IPv6
(IPv4-mapped, NAT64, 6to4) judged by the IPv4 address they carry.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix: the last 32 bits are an IPv4 address
UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")

# In this order, so a reason names the most telling class (a loopback address is also "reserved", ...).
CLASSES: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("unspecified", lambda a: a.is_unspecified),
    ("loopback", lambda a: a.is_loopback),
    ("link-local", lambda a: a.is_link_local),
    ("multicast", lambda a: a.is_multicast),
    ("unique-local", lambda a: isinstance(a, IPv6Address) and a in UNIQUE_LOCAL),
    ("site-local", lambda a: isinstance(a, IPv6Address) and a.is_site_local),
    ("reserved", lambda a: a.is_reserved),
    ("private", lambda a: a.is_private),
    ("non-public", lambda a: not a.is_global),  # what is left: shared (100.64/10), documentation ...
)


def parse_address(text: str) -> IPAddress | None:
    """The address in `text`, or None when it is a name."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def carried_ipv4(address: IPAddress) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, where it stands for one."""
    if not isinstance(address, IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def non_public_kind(address: IPAddress) -> str | None:
    """What kind of non-public address this is ("loopback", ...), or None for a public one."""
    carried = carried_ipv4(address)
    if carried is not None:
        return non_public_kind(carried)
    if isinstance(address, IPv6Address) and address.sixtofour is not None:
        inner = non_public_kind(address.sixtofour)
        if inner is not None:
            return f"6to4 {inner}"
    for kind, test in CLASSES:
        if test(address):
            return kind
    return None


class AddressPolicy:
    def __init__(self, allow_networks: Sequence[IPNetwork] = ()) -> None:
        self.allow_networks = tuple(allow_networks)

    def allow_listed(self, address: IPAddress) -> bool:
        candidates = [address, carried_ipv4(address)]
        return any(
            candidate in network
            for candidate in candidates if candidate is not None
            for network in self.allow_networks if network.version == candidate.version
        )

    def secure_problem(self, address: IPAddress) -> str | None:
        """Why an https download may not connect to `address`; None when it may."""
        if self.allow_listed(address):
            return None
        kind = non_public_kind(address)
        return f"{address} is a {kind} address" if kind else None

    def plain_problem(self, address: IPAddress) -> str | None:
        """Why a plain http download may not connect to `address`; None when it may."""
        if self.allow_listed(address):
            return None
        return f"{address} is not in DOWNLOAD_ALLOW_NETWORKS, the only place plain http is downloaded from"
