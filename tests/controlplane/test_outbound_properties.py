"""Property-based tests of the outbound guard (hypothesis): generated spellings of denied
addresses (loopback, private-use, link-local and the metadata address, unspecified,
multicast, shared, reserved; IPv6 natives and IPv4 carried in IPv6) are refused by the
guard and by EVERY client path (probe via the sweep, webhook, chat, replay), with a
``denied`` error, and not one byte reaches a real local listener."""

import ipaddress

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane.outbound import OutboundURLDenied, check_url, guard_url, normalise_host
from tests.hostile_server import ConnectionCounter
from tests.outbound_callers import CALLERS

DENIED_V4 = [ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "0.0.0.0/8",
    "224.0.0.0/4", "100.64.0.0/10", "240.0.0.0/4", "198.18.0.0/15",
)]
DENIED_V6 = [ipaddress.ip_network(n) for n in ("::1/128", "fe80::/10", "fc00::/7", "ff00::/8", "::/128")]

_FULL_WIDTH = {c: chr(0xFF10 + int(c)) for c in "0123456789"}
_SUPERSCRIPT = dict(zip("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹", strict=True))
_MATH_BOLD = {c: chr(0x1D7CE + int(c)) for c in "0123456789"}
_STOPS = [".", "\u3002", "\uff0e", "\uff61"]


def _addresses(networks):
    return st.sampled_from(networks).flatmap(
        lambda net: st.integers(int(net.network_address), int(net.broadcast_address)).map(
            lambda n: ipaddress.ip_address(n) if net.version == 4 else ipaddress.IPv6Address(n)))


denied_v4 = st.one_of(
    st.sampled_from([ipaddress.IPv4Address(a) for a in ("127.0.0.1", "169.254.169.254", "0.0.0.0", "10.0.0.1")]),
    _addresses(DENIED_V4),
)


@st.composite
def _radix(draw, value):
    """One number in decimal, octal (leading 0) or hex (0x, either case), as inet_aton reads."""
    form = draw(st.sampled_from(["dec", "oct", "hex", "HEX"]))
    if form == "dec":
        return str(value)
    if form == "oct":
        return "0" + format(value, "o")
    return ("0x" if form == "hex" else "0X") + format(value, "x" if form == "hex" else "X")


@st.composite
def ascii_v4_spelling(draw, ip):
    """``ip`` in one of the IPv4 forms resolvers accept: 4, 3, 2 or 1 parts, each part in
    any radix (``127.0.0.1``, ``0x7f.1``, ``2130706433``, ``0177.0.0.01``)."""
    n, octets = int(ip), list(ip.packed)
    parts = draw(st.sampled_from([4, 3, 2, 1]))
    if parts == 4:
        values = octets
    elif parts == 3:
        values = [octets[0], octets[1], n & 0xFFFF]
    elif parts == 2:
        values = [octets[0], n & 0xFFFFFF]
    else:
        values = [n]
    return ".".join(draw(_radix(v)) for v in values)


@st.composite
def unicode_disguise(draw, spelling):
    """Digits swapped for full-width, superscript or mathematical ones, dots for
    ideographic full stops, letters for full-width ones; a trailing dot maybe. NFKC and
    UTS-46 map all of it back."""
    out = []
    for c in spelling:
        if c.isdigit():
            out.append(draw(st.sampled_from([c, _FULL_WIDTH[c], _SUPERSCRIPT[c], _MATH_BOLD[c]])))
        elif c == ".":
            out.append(draw(st.sampled_from(_STOPS)))
        elif c.isalpha():
            out.append(draw(st.sampled_from([c, chr(ord(c.lower()) - ord("a") + 0xFF41)])))
        else:
            out.append(c)
    return "".join(out) + draw(st.sampled_from(["", "."]))


@st.composite
def v4_host(draw):
    ip = draw(denied_v4)
    spelling = draw(ascii_v4_spelling(ip))
    if draw(st.booleans()):
        spelling = draw(unicode_disguise(spelling))
    elif draw(st.booleans()):
        spelling = "".join(f"%{ord(c):02x}" if c.isdigit() and draw(st.booleans()) else c for c in spelling)
    return ip, spelling


@st.composite
def v6_host(draw):
    """Bracketed IPv6: a denied IPv6 address, or a denied IPv4 one carried as IPv4-mapped,
    -compatible, NAT64 or 6to4, written compressed or exploded, either case."""
    kind = draw(st.sampled_from(["native", "mapped", "mapped-dotted", "compatible", "nat64", "6to4"]))
    if kind == "native":
        ip = draw(_addresses(DENIED_V6))
    else:
        v4 = draw(denied_v4)
        if kind == "compatible" and int(v4) <= 1:
            v4 = ipaddress.IPv4Address("127.0.0.1")  # ::0 and ::1 are the v6 natives
        n = int(v4)
        ip = {"mapped": ipaddress.IPv6Address(0xFFFF << 32 | n), "mapped-dotted": ipaddress.IPv6Address(0xFFFF << 32 | n),
              "compatible": ipaddress.IPv6Address(n), "nat64": ipaddress.IPv6Address(0x64FF9B << 96 | n),
              "6to4": ipaddress.IPv6Address(0x2002 << 112 | n << 80 | draw(st.integers(0, 2**80 - 1)))}[kind]
        if kind == "mapped-dotted":
            return ip, f"[::ffff:{v4}]"
    text = draw(st.sampled_from([ip.compressed, ip.exploded]))
    return ip, "[" + (text.upper() if draw(st.booleans()) else text) + "]"


denied_hosts = st.one_of(v4_host(), v6_host())
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PATHS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def listener():
    """A real listener on 127.0.0.1 whose port every generated URL names; nothing may reach it."""
    counter = ConnectionCounter()
    with override_settings(OUTBOUND_URL_ALLOWLIST=[], HEALTH_WEBHOOK_TIMEOUT_SECONDS=1, EXCEPTIONS_REPLAY_TIMEOUT_SECONDS=1,
                           OUTBOUND_CONNECT_TIMEOUT_SECONDS=1):
        yield counter
    counter.close()
    assert (counter.connections, counter.bytes) == (0, 0)


@FAST
@given(denied_hosts)
def test_every_spelling_normalises_to_the_address_it_spells(case):
    ip, host = case
    _, literal = normalise_host(host)
    assert literal is not None and ipaddress.ip_address(literal.split("%")[0]) == ip


@FAST
@given(denied_hosts)
def test_guard_and_save_time_check_refuse_every_spelling(listener, case):
    _, host = case
    url = f"http://{host}:{listener.port}/hook"
    with pytest.raises(OutboundURLDenied):
        check_url(url)
    with pytest.raises(OutboundURLDenied):
        guard_url(url, resolve=lambda *a, **k: pytest.fail(f"{host!r} was taken for a name"))


@pytest.mark.parametrize("send", list(CALLERS.values()), ids=list(CALLERS))
@PATHS
@given(case=denied_hosts)
def test_every_client_path_refuses_every_spelling(listener, send, case):
    _, host = case
    error = send(f"http://{host}:{listener.port}/hook").error
    assert error.startswith("denied: "), (host, error)
    assert (listener.connections, listener.bytes) == (0, 0)
