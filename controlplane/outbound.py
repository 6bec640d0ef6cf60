"""The outbound-URL guard shared by health probes, replays and notification webhooks.

A URL may be called only if its scheme is http(s) and every address its host resolves to
is a public one: loopback, private-use, link-local (which holds cloud metadata endpoints
such as 169.254.169.254), carrier-grade NAT, multicast, reserved and unspecified addresses
are denied, as are well-known metadata host names. ``OUTBOUND_URL_ALLOWLIST`` (host names,
addresses or CIDR ranges) re-opens specific targets, e.g. ``127.0.0.1`` in development.

Callers check the URL before connecting and again for every redirect they follow, and
connect to the address the check returned (``GuardedTarget.addresses``) so a DNS answer
that changes between check and connect (rebinding) cannot slip through.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

METADATA_HOSTS = {"metadata.google.internal", "metadata", "metadata.azure.com", "instance-data", "instance-data.ec2.internal"}
_EXTRA_DENIED = [ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("fd00:ec2::/32")]


class OutboundURLDenied(ValueError):
    """The URL points somewhere outbound calls may not go."""


@dataclass(frozen=True)
class GuardedTarget:
    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _allowlist():
    hosts, networks = set(), []
    for item in getattr(settings, "OUTBOUND_URL_ALLOWLIST", []) or []:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            hosts.add(item.lower())
    return hosts, networks


def address_denied_reason(address: str) -> str | None:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for label, flag in (
        ("loopback", ip.is_loopback),
        ("link-local (cloud metadata lives here)", ip.is_link_local),
        ("private-use", ip.is_private),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("unspecified", ip.is_unspecified),
    ):
        if flag:
            return label
    if any(ip in net for net in _EXTRA_DENIED if net.version == ip.version):
        return "shared or metadata range"
    return None


def _legacy_ipv4(host: str) -> str | None:
    """The dotted address of a host written in a legacy IPv4 form that resolvers still
    honour (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``), or None. Without
    this such hosts look like names and would pass a check made before DNS."""
    if not host or not host[0].isdigit() or any(c not in "0123456789abcdefx." for c in host):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def guard_url(url: str, *, resolve=socket.getaddrinfo) -> GuardedTarget:
    """Check ``url``; return where to connect, or raise ``OutboundURLDenied`` saying why."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundURLDenied(f"Not a valid URL: {exc}") from None
    scheme = (parts.scheme or "").lower()
    if scheme not in ("http", "https"):
        raise OutboundURLDenied(f"Only http and https URLs are allowed, not {scheme or 'none'!r}.")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise OutboundURLDenied("The URL has no host.")
    if parts.username or parts.password:
        raise OutboundURLDenied("Credentials in the URL are not allowed; use headers.")
    port = port or (443 if scheme == "https" else 80)
    allowed_hosts, allowed_networks = _allowlist()
    if host in METADATA_HOSTS and host not in allowed_hosts:
        raise OutboundURLDenied(f"{host} is a cloud metadata host.")
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        legacy = _legacy_ipv4(host)
        addresses = [legacy] if legacy else []
    if not addresses:
        try:
            infos = resolve(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise OutboundURLDenied(f"Cannot resolve {host}: {exc}") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        if not addresses:
            raise OutboundURLDenied(f"{host} resolves to no address.")
    if host not in allowed_hosts:
        for address in addresses:
            ip = ipaddress.ip_address(address)
            if any(ip in net for net in allowed_networks if net.version == ip.version):
                continue
            reason = address_denied_reason(address)
            if reason:
                raise OutboundURLDenied(
                    f"{host} resolves to {address}, a {reason} address; add it to OUTBOUND_URL_ALLOWLIST to allow it."
                )
    return GuardedTarget(url=url, scheme=scheme, host=host, port=port, addresses=tuple(addresses))
