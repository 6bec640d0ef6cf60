from django.core.management.base import BaseCommand, CommandError

from controlplane.errors import DomainError
from controlplane.roles import ROLE_PERMISSIONS
from controlplane.services import create_service_account


class Command(BaseCommand):
    help = "Create a service account (or add a token to an existing one) and print its token once."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--role", default="integration", help=f"One of: {', '.join(ROLE_PERMISSIONS)}")

    def handle(self, *args, name, role, **options):
        try:
            token, key = create_service_account(name=name, role=role)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(f"Service account {name!r} ({role}); token {token.key_prefix}… — shown once, store it now:")
        self.stdout.write(key)
