"""Fixtures for the hostile-input suites: the project's WSGI app run in-process on the test
database, and the small estate it is fuzzed against (the terminal summary is in summary.py)."""

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections


@pytest.fixture
def wsgi_app(db):
    """The real WSGI application (full middleware stack, CSRF enforced), sharing the test's
    database connection and transaction.

    Django closes "old" connections at the start and end of every request; inside a test
    transaction that would close the test's own connection, so (like Django's test client)
    those two signal handlers are disconnected while the app is in use.
    """
    from django.core.wsgi import get_wsgi_application

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def seed_estate():
    """A small estate with rows behind every API collection: the catalog, stewardship and
    exceptions demo data (seconds) plus a few health and KPI rows (their demo loaders
    compute months of history, which takes minutes)."""
    import datetime as dt
    import io

    from django.utils import timezone

    from catalog import demo as catalog_demo
    from catalog.models import Integration
    from exceptions import demo as exceptions_demo
    from health.models import Flip, MaintenanceWindow, Notification, NotificationChannel
    from kpis.models import BusinessEvent, KpiTarget
    from stewardship import demo as stewardship_demo
    from tests.health.factories import ProbeFactory

    out = io.StringIO()
    catalog_demo.load(stdout=out)
    stewardship_demo.load(stdout=out)
    exceptions_demo.load(stdout=out)
    integration = Integration.objects.order_by("pk").first()
    now = timezone.now()
    ProbeFactory(integration=integration, url="https://example.com/health")
    MaintenanceWindow.objects.create(name="Patch night", integration=integration, starts_at=now, ends_at=now + dt.timedelta(hours=1))
    channel = NotificationChannel.objects.create(team=integration.owner_team, name="ops mail", kind="email", target="ops@example.com")
    flip = Flip.objects.create(integration=integration, from_status="up", to_status="down", reason="probe failed", at=now)
    Notification.objects.create(channel=channel, flip=flip, subject="down")
    KpiTarget.objects.get_or_create(key="approved-time-to-invoice", defaults={"target": 24})
    BusinessEvent.objects.create(event_id="seed-1", type="invoice_posted", correlation_key="P-1", occurred_at=now)
