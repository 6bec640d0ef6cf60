import socket

import pytest

from controlplane.outbound import OutboundURLDenied, guard_url


def fake_resolver(*addresses):
    def resolve(host, port, type=None):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:8000/",
        "http://[::1]/",
        "http://10.0.0.5/",
        "http://192.168.1.1/",
        "http://0.0.0.0/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[::ffff:169.254.169.254]/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://user:pw@example.com/",
        "http:///nohost",
    ],
)
def test_denied_targets(url, settings):
    settings.OUTBOUND_URL_ALLOWLIST = []
    with pytest.raises(OutboundURLDenied):
        guard_url(url, resolve=fake_resolver("93.184.216.34"))


def test_public_host_allowed_and_addresses_pinned(settings):
    settings.OUTBOUND_URL_ALLOWLIST = []
    target = guard_url("https://erp.example.com/replay", resolve=fake_resolver("93.184.216.34"))
    assert target.addresses == ("93.184.216.34",) and target.port == 443


def test_host_resolving_to_private_address_is_denied(settings):
    settings.OUTBOUND_URL_ALLOWLIST = []
    with pytest.raises(OutboundURLDenied, match="private-use"):
        guard_url("https://rebind.example.com/", resolve=fake_resolver("93.184.216.34", "10.1.2.3"))


def test_allowlist_reopens_loopback(settings):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.0/8"]
    assert guard_url("http://127.0.0.1:9000/x").addresses == ("127.0.0.1",)
    settings.OUTBOUND_URL_ALLOWLIST = ["localhost"]
    assert guard_url("http://localhost:9000/x", resolve=fake_resolver("127.0.0.1")).host == "localhost"


@pytest.mark.parametrize(
    "host, expected",
    [
        ("１２７.０.０.１", "127.0.0.1"),  # full-width digits
        ("127。0．0｡1", "127.0.0.1"),  # ideographic full stops
        ("¹²⁷.⁰.⁰.¹", "127.0.0.1"),  # superscripts
        ("%31%32%37.0.0.1", "127.0.0.1"),  # percent-encoded
        ("2130706433", "127.0.0.1"),
        ("0x7F000001", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0xa9.254.43518", "169.254.169.254"),
        ("169.254.169.254.", "169.254.169.254"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
    ],
)
def test_spellings_of_an_address_are_read_as_that_address(host, expected):
    from controlplane.outbound import normalise_host

    assert normalise_host(host)[1] == expected


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://１２７.０.０.１:8000/", "loopback"),
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://[::127.0.0.1]/", "loopback (IPv4-compatible"),
        ("http://[64:ff9b::a9fe:a9fe]/", "link-local (cloud metadata lives here) (NAT64 169.254.169.254)"),
        ("http://[2002:a00:1::1]/", "private-use (6to4 10.0.0.1)"),
        ("http://[64:ff9b:1::a00:1]/", "NAT64 local-use"),
        ("http://[fe80::1%25eth0]/", "link-local"),
        ("http://ＭＥＴＡＤＡＴＡ.google.internal/", "metadata host"),
        ("http://0x64.0x40.0.1/", "shared or metadata range"),
    ],
)
def test_denied_spellings_say_why(url, reason, settings):
    settings.OUTBOUND_URL_ALLOWLIST = []
    with pytest.raises(OutboundURLDenied, match=reason.replace("(", r"\(").replace(")", r"\)")):
        guard_url(url, resolve=fake_resolver("93.184.216.34"))


def test_embedded_public_ipv4_is_judged_by_that_address(settings):
    settings.OUTBOUND_URL_ALLOWLIST = []
    assert guard_url("http://[64:ff9b::5db8:d822]/").addresses == ("64:ff9b::5db8:d822",)  # NAT64 of 93.184.216.34
    assert guard_url("http://[::ffff:93.184.216.34]/").addresses == ("::ffff:5db8:d822",)


def test_international_names_are_resolved_by_their_idna_form(settings):
    settings.OUTBOUND_URL_ALLOWLIST = []
    asked = []

    def resolve(host, port, type=None):
        asked.append(host)
        return fake_resolver("93.184.216.34")(host, port)

    target = guard_url("https://BÜCHER.example/x", resolve=resolve)
    assert asked == ["xn--bcher-kva.example"] and target.host == "xn--bcher-kva.example"


@pytest.mark.parametrize("url", ["http://exa mple.com/", "http://a..b/", "http://ex%2Fample.com/",
                                 "http://[::1/"])
def test_hosts_no_resolver_would_accept_are_refused(url, settings):
    settings.OUTBOUND_URL_ALLOWLIST = []
    with pytest.raises(OutboundURLDenied):
        guard_url(url, resolve=fake_resolver("93.184.216.34"))


def test_allowlisted_address_is_allowed_in_any_spelling(settings):
    """The demo allows 127.0.0.1: every spelling of it is the same allowed address, and a
    neighbour (127.0.0.2) is still denied."""
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.1"]
    for host in ("127.0.0.1", "１２７.０.０.１", "2130706433", "[::ffff:127.0.0.1]"):
        guard_url(f"http://{host}:9000/")
    with pytest.raises(OutboundURLDenied, match="loopback"):
        guard_url("http://0x7f000002:9000/")


def test_redirect_policy():
    from controlplane.outbound.policy import OutboundError, next_hop

    url, body = "https://erp.example.com/replay", b"{}"
    auth = {"Authorization": "Bearer s3cret", "Idempotency-Key": "k"}
    # 307/308 repeat the POST with its body; same origin keeps the credentials
    assert next_hop("POST", url, body, auth, 307, "/v2/replay") == ("POST", "https://erp.example.com/v2/replay", body, auth)
    # another origin: credentials dropped, the rest kept
    assert next_hop("POST", url, body, auth, 308, "https://other.example/x")[3] == {"Idempotency-Key": "k"}
    # a POST is never turned into a GET: 301/302/303 are its final answer
    assert [next_hop("POST", url, body, auth, status, "/x") for status in (301, 302, 303)] == [None] * 3
    assert next_hop("GET", url, None, None, 302, "/x") == ("GET", "https://erp.example.com/x", None, None)
    assert next_hop("GET", url, None, None, 200, "/x") is None and next_hop("GET", url, None, None, 302, None) is None
    for location in ("http://\xff\xfe/", "/a\x00b", "/a b", ""):  # latin-1 decoded raw bytes, controls, spaces
        with pytest.raises(OutboundError) as raised:
            next_hop("GET", url, None, None, 302, location)
        assert raised.value.kind == "bad_response"
