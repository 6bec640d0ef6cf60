"""Rotating SECRET_KEY keeps stored probe and webhook secrets usable."""

import pytest
from django.core.management import CommandError, call_command

from health import secrets
from health.models import NotificationChannel
from tests.factories import TeamFactory
from tests.health.factories import ProbeFactory

OLD, NEW = "old-key-" + "x" * 40, "new-key-" + "y" * 40


@pytest.fixture
def stored(db, settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD, []
    probe = ProbeFactory(headers={"Authorization": secrets.encrypt("Bearer s3cret"), "Accept": "text/plain"})
    channel = NotificationChannel.objects.create(
        team=TeamFactory(), name="hook", kind="webhook", target="https://hooks.example.com/x",
        secret=secrets.encrypt("hmac-key"),
    )
    return probe, channel


def test_new_key_with_old_as_fallback_still_reads_then_rotation_drops_the_need(stored, settings):
    probe, channel = stored
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, [OLD]
    assert secrets.revealed_headers(probe.headers)["Authorization"] == "Bearer s3cret"

    call_command("rotate_secrets")

    settings.SECRET_KEY_FALLBACKS = []
    probe.refresh_from_db()
    channel.refresh_from_db()
    assert secrets.revealed_headers(probe.headers) == {"Authorization": "Bearer s3cret", "Accept": "text/plain"}
    assert secrets.reveal(channel.secret) == "hmac-key"


def test_rotation_refuses_and_changes_nothing_when_a_secret_is_unreadable(stored, settings):
    probe, channel = stored
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, []  # old key forgotten
    before = (probe.headers, channel.secret)

    with pytest.raises(CommandError, match="can read"):
        call_command("rotate_secrets")

    probe.refresh_from_db()
    channel.refresh_from_db()
    assert (probe.headers, channel.secret) == before
    assert secrets.reveal(channel.secret) == ""  # and unreadable without the fallback
