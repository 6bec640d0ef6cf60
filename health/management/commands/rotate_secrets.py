"""Re-encrypt stored probe header secrets and webhook secrets with the current SECRET_KEY.

Run after moving the old key into SECRET_KEY_FALLBACKS; afterwards the fallback can go."""

from django.core.management.base import BaseCommand, CommandError

from controlplane.errors import DomainError
from health import services


class Command(BaseCommand):
    help = "Re-encrypt stored probe and webhook secrets with the current SECRET_KEY."

    def handle(self, *args, **options):
        try:
            probes, channels = services.rotate_secrets(actor=None)
        except DomainError as exc:  # nothing is half-rotated: the service's transaction rolled back
            raise CommandError(exc.message) from None
        self.stdout.write(f"Re-encrypted secrets of {probes} probe(s) and {channels} notification channel(s).")
