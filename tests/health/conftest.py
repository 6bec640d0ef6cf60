import pytest

from health.testing import LoopbackServer


@pytest.fixture(scope="session")
def loopback():
    server = LoopbackServer().start()
    yield server
    server.stop()


@pytest.fixture
def allow_loopback(settings):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.0/8"]
    return settings
