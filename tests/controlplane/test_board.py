import datetime as dt

import pytest
from django.utils import timezone

from exceptions.models import BusinessException, Queue
from health.models import HealthConfig, SlaBreach
from tests.factories import IntegrationFactory
from tests.stewardship.factories import VersionFactory

pytestmark = pytest.mark.django_db


def test_admin_index_is_the_control_board(client, superuser):
    integration = IntegrationFactory()
    queue = Queue.objects.create(name="Billing", slug="billing", team=integration.owner_team)
    now = timezone.now()
    for n, (due, currency) in enumerate([(now - dt.timedelta(hours=1), "GBP"), (now + dt.timedelta(days=1), "USD"),
                                         (now + dt.timedelta(days=2), "GBP")]):
        BusinessException.objects.create(integration=integration, queue=queue, error_code="E", message="m",
                                         fingerprint=f"f{n}", due_at=due, amount_at_risk=100, currency=currency)
    HealthConfig.objects.create(integration=integration, status="down")
    SlaBreach.objects.create(integration=integration, metric="availability", opened_at=now, fingerprint="b")
    VersionFactory(status="in_review")
    client.force_login(superuser)
    response = client.get("/admin/")
    assert response.status_code == 200
    lines = {line.label: line for line in response.context["board"]["lines"]}
    assert lines["Overdue exceptions"].value == "1" and lines["Overdue exceptions"].attention
    assert lines["Open exceptions"].value == "3"
    # Per currency, side by side: GBP and USD are never added together.
    assert lines["Amount at risk on open exceptions"].value == "GBP 200.00 · USD 100.00"
    assert lines["Integrations down"].value == "1"
    assert lines["SLA breaches open"].value == "1"
    assert lines["Schema versions waiting for review"].value == "1"
    assert not lines["System-of-record proposals waiting"].attention
    assert b"Needs attention now" in response.content and b"Headline KPIs" in response.content
    # The overdue line drills into the exception list filtered to exactly those rows.
    listing = client.get(lines["Overdue exceptions"].url)
    assert listing.status_code == 200
