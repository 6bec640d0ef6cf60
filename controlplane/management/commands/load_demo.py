"""Loads the demo estate: one user per role, then each app's demo data, all drawn from
one scenario (controlplane/scenario/).

Idempotent: every app's ``demo.load()`` looks its rows up by natural keys, so running it
twice changes nothing, and nothing a user decided (a resolved exception, an approved
version) comes back. Probes and replay targets point at the simulated systems under
``/demo/`` on ``--base-url`` (default ``http://$HOST:$PORT``, as ``make demo`` serves).
"""

import importlib
import os
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from controlplane import roles

DEMO_PASSWORD = "demo-pass-2026"
DEMO_USERS = [
    ("architect", "Ada", "Architect", roles.ARCHITECT),
    ("steward", "Sam", "Steward", roles.STEWARD),
    ("steward2", "Sasha", "Second-Steward", roles.STEWARD),
    ("finance", "Fran", "Finance", roles.FINANCE),
    ("executive", "Eve", "Executive", roles.EXECUTIVE),
]
# Apps in dependency order; each may ship a ``demo`` module with ``load(stdout)``.
DEMO_APPS = ["catalog", "stewardship", "exceptions", "health", "kpis"]


class Command(BaseCommand):
    help = "Load the demo estate (users, catalog, stewardship, exceptions, health, KPIs). Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", help="Where the demo web server listens (default http://$HOST:$PORT).")

    def handle(self, *args, **options):
        if options.get("base_url"):
            os.environ["DEMO_BASE_URL"] = options["base_url"]
        self._check_demo_targets_allowed()
        with transaction.atomic():
            users = self._users()
        self.stdout.write(f"Demo users: {', '.join(users)} (password {DEMO_PASSWORD!r}, demo only)")
        for app in DEMO_APPS:
            try:
                module = importlib.import_module(f"{app}.demo")
            except ModuleNotFoundError as exc:
                if exc.name in (f"{app}.demo", app):
                    continue
                raise
            started = time.perf_counter()
            with transaction.atomic():
                module.load(stdout=self.stdout)
            if options["verbosity"] > 1:
                self.stdout.write(f"  ({app}: {time.perf_counter() - started:.1f} s)")

    def _check_demo_targets_allowed(self):
        """The demo's probes and replay targets call this server's /demo/; refuse up front,
        with the fix, when the outbound guard would refuse them, so nothing is half loaded."""
        from controlplane.outbound import check_url
        from exceptions.demo import base_url

        try:
            check_url(f"{base_url()}/demo/")
        except ValueError as exc:
            raise CommandError(f"The demo's probes and replays call {base_url()}/demo/, which the outbound guard "
                               f"refuses: {exc} (`make demo` sets OUTBOUND_URL_ALLOWLIST=127.0.0.1 for you.)") from exc

    def _users(self):
        User = get_user_model()
        names = []
        for username, first, last, role in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first, "last_name": last, "email": f"{username}@demo.example"}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            user.groups.add(Group.objects.get(name=role))
            names.append(username)
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True, "email": "admin@demo.example"}
        )
        if created:
            admin.set_password(DEMO_PASSWORD)
            admin.save(update_fields=["password"])
        names.append("admin")
        return names
