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
