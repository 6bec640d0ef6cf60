from django.core.management.base import BaseCommand, CommandError

from controlplane.errors import DomainError
from controlplane.roles import ROLE_PERMISSIONS
from controlplane.services import create_service_account


class Command(BaseCommand):
    help = "Create a service account (or add a token to an existing one) and print its token once."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--role", default="integration", help=f"One of: {', '.join(ROLE_PERMISSIONS)}")
        parser.add_argument("--integration", action="append", default=[], metavar="SLUG",
                            help="An integration the token speaks for (repeat for several).")
        parser.add_argument("--system", action="append", default=[], metavar="SLUG",
                            help="A system the token speaks for: every integration from or to it (repeatable).")
        parser.add_argument("--all-integrations", action="store_true",
                            help="The token speaks for every integration (the platform's own middleware).")
        parser.add_argument("--read-metrics", action="store_true",
                            help="The token may scrape /metrics (give it to the Prometheus server; docs/metrics.md).")

    def handle(self, *args, name, role, integration, system, all_integrations, read_metrics, **options):
        try:
            token, key = create_service_account(name=name, role=role, integrations=integration, systems=system,
                                                all_integrations=all_integrations, read_metrics=read_metrics)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(f"Service account {name!r} ({role}); token {token.key_prefix}…, speaks for "
                          f"{token.scope_label()} — shown once, store it now:")
        if not (integration or system or all_integrations or read_metrics):
            self.stderr.write("This token may read but write for no integration yet: give it --integration, --system "
                              "or --all-integrations, or set its scope in admin (Control plane → Service tokens).")
        self.stdout.write(key)
