"""Re-encrypt stored probe header secrets and webhook secrets with the current SECRET_KEY.

Run after moving the old key into SECRET_KEY_FALLBACKS; afterwards the fallback can go."""

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from health import secrets
from health.models import NotificationChannel, Probe


class Command(BaseCommand):
    help = "Re-encrypt stored probe and webhook secrets with the current SECRET_KEY."

    @transaction.atomic
    def handle(self, *args, **options):
        unreadable = []
        probes = channels = 0
        for probe in Probe.objects.select_for_update().only("pk", "headers"):
            headers, changed = dict(probe.headers or {}), False
            for name, value in headers.items():
                try:
                    rotated = secrets.rotate(str(value))
                except InvalidToken:
                    unreadable.append(f"probe {probe.pk} header {name}")
                    continue
                if rotated is not None:
                    headers[name], changed = rotated, True
            if changed:
                probe.headers = headers
                probe.save(update_fields=["headers"])
                probes += 1
        for channel in NotificationChannel.objects.select_for_update().exclude(secret="").only("pk", "secret"):
            try:
                rotated = secrets.rotate(channel.secret)
            except InvalidToken:
                unreadable.append(f"notification channel {channel.pk}")
                continue
            if rotated is not None:
                channel.secret = rotated
                channel.save(update_fields=["secret"])
                channels += 1
        if unreadable:
            # Nothing is half-rotated: the transaction rolls back.
            raise CommandError(
                "No configured key (SECRET_KEY or SECRET_KEY_FALLBACKS) can read: " + ", ".join(unreadable)
            )
        self.stdout.write(f"Re-encrypted secrets of {probes} probe(s) and {channels} notification channel(s).")
