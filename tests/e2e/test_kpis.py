import datetime as dt

import pytest
from django.utils import timezone

from kpis import services
from kpis.models import BusinessEvent

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_executive_opens_overview_and_drills_into_a_kpi(cast, live_server, login, page):
    # The invoices were posted yesterday at noon: the KPI pages open on the last complete day.
    now = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    for n, hours in enumerate([4, 8, 30]):
        BusinessEvent.objects.create(event_id=f"s{n}", type="time_approved", correlation_key=f"TS-{n}",
                                     occurred_at=now - dt.timedelta(hours=hours + 1))
        BusinessEvent.objects.create(event_id=f"e{n}", type="invoice_posted", correlation_key=f"TS-{n}",
                                     occurred_at=now - dt.timedelta(hours=1))
    services.refresh_days([now.date()])

    login("executive")
    page.goto(f"{live_server.url}/kpis/?period=day")
    card = page.locator("[data-kpi=approved-time-to-invoice]")
    assert card.locator(".value").inner_text() == "8"
    assert "on target" in card.inner_text()
    card.get_by_role("link", name="Approved time to invoice").click()
    page.wait_for_url("**/kpis/approved-time-to-invoice/**")
    assert page.locator("canvas#trend").is_visible()
    page.get_by_role("link", name="Invoices posted in the period").click()
    page.wait_for_url("**/kpis/rows/**")
    keys = page.locator("tbody tr td:nth-child(3)").all_inner_texts()
    assert sorted(keys) == ["TS-0", "TS-1", "TS-2"]
