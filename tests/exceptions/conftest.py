import pytest

from .test_replay import ReplayServer


@pytest.fixture
def server(settings):
    """A local replay target the outbound guard lets through, with no retry backoff."""
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.0/8"]
    settings.EXCEPTIONS_REPLAY_BACKOFF_SECONDS = 0
    srv = ReplayServer()
    yield srv
    srv.close()
