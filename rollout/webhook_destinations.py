"""Where a webhook may be delivered: public addresses only, unless the operator allows more.

Editors choose per-experiment webhook URLs, so a URL is untrusted input that makes the service
send a request (SSRF). The text of a host says little (`127.1`, `2130706433`, `0x7f.1` and
`[::ffff:127.0.0.1]` are all loopback), so the check is made on the addresses the name resolves
to, at delivery time, and the delivery then connects to the very address that was checked: a
DNS answer that changes between the check and the connection (rebinding) cannot swap it.

Refused by default: private, loopback, link-local, multicast, reserved, unspecified and shared
(CGNAT) addresses, IPv4 embedded in IPv6 (mapped, 6to4, Teredo, NAT64) judged as the IPv4 they
carry, and any URL with credentials in it. `ROLLOUT_WEBHOOK_ALLOW_HOSTS` (comma-separated host
names, addresses or CIDR networks) allows destinations that would otherwise be refused.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class RefusedDestination(ValueError):
    """A webhook URL that will not be delivered to; the message is short and safe to log."""


class UnresolvedHost(OSError):
    """The host name has no address now; DNS may answer later, so the delivery is retried."""


@dataclass(frozen=True)
class Destination:
    """A checked URL: connect to `address`, speak to `host` (Host header, TLS name)."""

    scheme: str
    host: str
    port: int
    address: str
    target: str  # path and query, as sent in the request line


@dataclass(frozen=True)
class AllowList:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: tuple[str, ...] | list[str]) -> AllowList:
        """Host names (exact, case-insensitive), addresses and CIDR networks; ValueError if bad."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if "/" in entry or ":" in entry:
                    raise ValueError(
                        f"ROLLOUT_WEBHOOK_ALLOW_HOSTS: {entry!r} is not a host or a network"
                    ) from None
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        return host.lower().rstrip(".") in self.hosts or any(
            address.version == n.version and address in n for n in self.networks
        )


def public_form(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def why_refused(address: IPAddress) -> str | None:
    """The kind of non-public address this is, or None for a public one."""
    inner = public_form(address)
    for kind, flag in (
        ("unspecified", inner.is_unspecified),
        ("loopback", inner.is_loopback),
        ("link-local", inner.is_link_local),
        ("multicast", inner.is_multicast),
        ("private", inner.is_private),
        ("reserved", inner.is_reserved),
    ):
        if flag:
            return kind
    return None if inner.is_global else "non-public"


def split(url: str) -> SplitResult:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedDestination("only http:// and https:// URLs with a host are delivered")
    if parts.username is not None or parts.password is not None:
        raise RefusedDestination("URLs with credentials are refused")
    return parts


def redacted(url: str) -> str:
    """The URL without any user:password part, for the delivery log."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def resolve(url: str, allow: AllowList) -> Destination:
    """Resolve `url`'s host now and pick the first address that may be reached.

    Every address the name resolves to must pass (a name with one private address among public
    ones is refused), so which address the connection uses never decides the answer."""
    parts = split(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RefusedDestination("the URL's port is not a number in 1..65535") from None
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnresolvedHost(f"cannot resolve host {host!r}") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))
    if not addresses:
        raise UnresolvedHost(f"cannot resolve host {host!r}")
    for address in addresses:
        reason = why_refused(address)
        if reason is not None and not allow.allows(host, address):
            raise RefusedDestination(
                f"destination refused: {address} ({reason}); "
                "ROLLOUT_WEBHOOK_ALLOW_HOSTS can allow it"
            )
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Destination(parts.scheme, host, port, str(addresses[0]), target)
