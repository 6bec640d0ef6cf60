"""The outbound-URL guard: which URLs outbound calls may reach, decided on the host exactly
as the connecting code will see it.

A URL may be called only if its scheme is http(s) and every address its host resolves to
is a public one: loopback, private-use, link-local (which holds cloud metadata endpoints
such as 169.254.169.254), carrier-grade NAT, multicast, reserved and unspecified addresses
are denied, as are well-known metadata host names. ``OUTBOUND_URL_ALLOWLIST`` (host names,
addresses or CIDR ranges) re-opens specific targets, e.g. ``127.0.0.1`` in development.

The host is normalised before anything is decided, the way resolvers and HTTP libraries
would read it: percent-decoding, NFKC (full-width digits, superscripts), the ideographic
full stops U+3002 / U+FF0E / U+FF61 as dots, IDNA with UTS-46 mapping, and the legacy IPv4
spellings (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``). An IPv6 address
carrying an IPv4 one (mapped, compatible, NAT64, 6to4, Teredo) is judged by the IPv4 it
carries. The client (``controlplane.outbound.client``) connects to the normalised host's
checked addresses only, so check and connection cannot disagree.
"""

import ipaddress
import socket
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import idna
from django.conf import settings

METADATA_HOSTS = {"metadata.google.internal", "metadata", "metadata.azure.com", "instance-data", "instance-data.ec2.internal"}
_EXTRA_DENIED = [ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("fd00:ec2::/32")]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_COMPATIBLE = ipaddress.ip_network("::/96")
_STOPS = {0x3002: ".", 0xFF0E: ".", 0xFF61: "."}
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")


class OutboundURLDenied(ValueError):
    """The URL points somewhere outbound calls may not go."""


@dataclass(frozen=True)
class Parsed:
    """A URL as the client will use it: ``host`` is the normalised ASCII host (what the
    Host header, TLS SNI and the resolver get); ``literal`` is its address when the host
    is an IP address in any spelling, else None (a name, resolved at connect time)."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    query: str
    literal: str | None


@dataclass(frozen=True)
class GuardedTarget:
    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def allowlist():
    """(host names, networks) of ``OUTBOUND_URL_ALLOWLIST``."""
    hosts, networks = set(), []
    for item in getattr(settings, "OUTBOUND_URL_ALLOWLIST", []) or []:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            hosts.add(item.lower().rstrip("."))
    return frozenset(hosts), tuple(networks)


def _embedded_ipv4(ip: ipaddress.IPv6Address):
    """The IPv4 address an IPv6 address carries (and how), or (None, "")."""
    if ip.ipv4_mapped:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if ip.sixtofour:
        return ip.sixtofour, "6to4"
    if ip.teredo:
        return ip.teredo[1], "Teredo"
    if ip in _COMPATIBLE and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "IPv4-compatible"
    return None, ""


def _own_reason(ip) -> str | None:
    if ip.version == 6 and ip in _NAT64_LOCAL:
        return "NAT64 local-use"
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
    if not ip.is_global:
        return "non-public"
    return None


def address_denied_reason(address: str) -> str | None:
    """Why ``address`` may not be called, or None. An IPv6 address that carries an IPv4
    address is judged by that IPv4 address (a NAT64 gateway or 6to4 relay would take the
    connection there)."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        inner, how = _embedded_ipv4(ip)
        if inner is not None:
            reason = _own_reason(inner)
            return f"{reason} ({how} {inner})" if reason else None
    return _own_reason(ip)


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


def normalise_host(raw: str) -> tuple[str, str | None]:
    """(ASCII host, its address if it is an IP address in any spelling; then the host is
    that address, canonical, which is also what the Host header carries). Raises
    ``OutboundURLDenied`` for a host no resolver would accept."""
    host = unicodedata.normalize("NFKC", unquote(raw or "")).translate(_STOPS).strip().lower()
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    host = host.rstrip(".")
    if not host:
        raise OutboundURLDenied("The URL has no host.")
    if ":" in host:
        try:
            address = str(ipaddress.IPv6Address(host))
        except ValueError:
            raise OutboundURLDenied(f"{host!r} is not a valid IPv6 address.") from None
        return address, address
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise OutboundURLDenied(f"{raw!r} is not a valid host name: {exc}") from None
    if not set(host) <= _HOST_CHARS or ".." in host:
        raise OutboundURLDenied(f"{raw!r} is not a valid host name.")
    try:
        address = str(ipaddress.IPv4Address(host))
    except ValueError:
        address = _legacy_ipv4(host)
    return (address, address) if address else (host, None)


def parse(url: str) -> Parsed:
    """Scheme, credentials and host checks that need no DNS; the host normalised."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundURLDenied(f"Not a valid URL: {exc}") from None
    scheme = (parts.scheme or "").lower()
    if scheme not in ("http", "https"):
        raise OutboundURLDenied(f"Only http and https URLs are allowed, not {scheme or 'none'!r}.")
    if parts.username is not None or parts.password is not None:
        raise OutboundURLDenied("Credentials in the URL are not allowed; use headers.")
    host, literal = normalise_host(parts.hostname or "")
    return Parsed(url=url, scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80),
                  path=parts.path, query=parts.query, literal=literal)


def check_host(parsed: Parsed, allow=None) -> None:
    """The checks on the host itself: metadata names, and the address of a literal."""
    allowed_hosts, _ = allow or allowlist()
    if parsed.host in METADATA_HOSTS and parsed.host not in allowed_hosts:
        raise OutboundURLDenied(f"{parsed.host} is a cloud metadata host.")
    if parsed.literal is not None:
        check_addresses(parsed, (parsed.literal,), allow)


def check_addresses(parsed: Parsed, addresses, allow=None) -> None:
    """Every address the host resolved to must be allowed; one denied address denies."""
    allowed_hosts, allowed_networks = allow or allowlist()
    if not addresses:
        raise OutboundURLDenied(f"{parsed.host} resolves to no address.")
    if parsed.host in allowed_hosts:
        return
    for address in addresses:
        ip = ipaddress.ip_address(address)
        mapped = ip.ipv4_mapped if ip.version == 6 else None
        if any(candidate in net for candidate in (ip, mapped) if candidate is not None
               for net in allowed_networks if net.version == candidate.version):
            continue
        reason = address_denied_reason(address)
        if reason:
            where = f"{parsed.host} is" if parsed.literal is not None else f"{parsed.host} resolves to {address},"
            raise OutboundURLDenied(f"{where} a {reason} address; add it to OUTBOUND_URL_ALLOWLIST to allow it.")


def check_url(url: str) -> Parsed:
    """The guard without DNS, for saving a URL (a form must not depend on DNS): scheme,
    credentials, metadata names and IP addresses in any spelling. Names are checked
    again, with their addresses, at every connection."""
    parsed = parse(url)
    check_host(parsed)
    return parsed


def guard_url(url: str, *, resolve=socket.getaddrinfo) -> GuardedTarget:
    """Check ``url``; return where to connect, or raise ``OutboundURLDenied`` saying why."""
    parsed = parse(url)
    allow = allowlist()
    check_host(parsed, allow)
    if parsed.literal is not None:
        addresses = [parsed.literal]
    else:
        try:
            infos = resolve(parsed.host, parsed.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise OutboundURLDenied(f"Cannot resolve {parsed.host}: {exc}") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
    check_addresses(parsed, addresses, allow)
    return GuardedTarget(url=url, scheme=parsed.scheme, host=parsed.host, port=parsed.port, addresses=tuple(addresses))
