"""Money in one currency: dated FX rates (API, admin, the ECB file), the rate rule, and
amounts without a rate counted apart."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from exceptions.models import BusinessException, Queue
from kpis import services
from kpis.choices import Period, ScopeType
from kpis.definitions import KPIS
from kpis.fx import parse_ecb_csv
from kpis.models import FxRate, KpiDirtyWindow, KpiSnapshot
from kpis.periods import Window
from tests.factories import IntegrationFactory

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 10, 14)
WINDOW = Window(Period.DAY, DAY)

# The ECB's own layout (eurofxref-hist.csv): newest first, N/A where no rate, a trailing comma.
ECB = (
    "Date,USD,JPY,GBP,CYP,\n"
    "2026-10-14,1.0800,160.12,0.8500,N/A,\n"
    "2026-10-12,1.1000,158.00,0.8000,N/A,\n"
    "2007-12-31,1.4721,164.93,0.73335,0.5853,\n"
)


def rate(quote, day, value, base="EUR"):
    return FxRate.objects.create(base=base, quote=quote, date=day, rate=Decimal(value))


@pytest.fixture
def queue():
    integration = IntegrationFactory(slug="billing-sync")
    return Queue.objects.create(name="Billing", slug="billing", team=integration.owner_team), integration


def exc(queue_and_integration, n, amount, currency, seen):
    queue, integration = queue_and_integration
    return BusinessException.objects.create(
        integration=integration, queue=queue, error_code="E", message="m", fingerprint=f"fp{n}",
        amount_at_risk=Decimal(amount), currency=currency, first_seen=seen,
    )


def at(day, hour=12):
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def test_parse_ecb_layout_skips_na_and_the_trailing_comma():
    rates = parse_ecb_csv(ECB)
    assert (DAY, "GBP", Decimal("0.8500")) in rates
    assert (dt.date(2007, 12, 31), "CYP", Decimal("0.5853")) in rates
    assert not [r for r in rates if r[0] == DAY and r[1] == "CYP"]  # N/A: no rate, not 0
    assert len(rates) == 3 + 3 + 4


@pytest.mark.parametrize("text,fragment", [
    ("", "empty"),
    ("Day,USD,\n2026-10-14,1.08,\n", "'Date'"),
    ("Date,USD,\n14/10/2026,1.08,\n", "not a date"),
    ("Date,USD,\n2026-10-14,-1,\n", "positive"),
    ("Date,USD,\n2026-10-14,abc,\n", "not a number"),
    ("Date,usd,\n2026-10-14,1.08,\n", "ISO 4217"),
    ("Date,USD,\n2026-10-14,1.08,2.0\n", "cells"),
    ("Date,USD,\n1900-01-01,1.08,\n", "outside"),
])
def test_bad_ecb_files_are_refused_whole(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_ecb_csv(text)


def test_rate_rule_own_day_else_latest_earlier_and_missing_counted_apart(queue):
    rate("GBP", DAY, "0.85")
    rate("GBP", dt.date(2026, 10, 12), "0.80")
    rate("GBP", dt.date(2026, 10, 20), "0.50")  # after every amount: never used for them
    exc(queue, 1, "85.00", "GBP", at(DAY))                        # own day: 85 / 0.85 = 100
    exc(queue, 2, "80.00", "GBP", at(dt.date(2026, 10, 13)))      # no rate that day: 10-12's, 80 / 0.80 = 100
    exc(queue, 3, "10.00", "EUR", at(DAY))                        # already EUR
    exc(queue, 4, "50.00", "USD", at(DAY))                        # no USD rate at all
    exc(queue, 5, "7.00", "", at(DAY))                            # no currency: cannot be converted either
    value, detail = KPIS["revenue-at-risk"].compute(WINDOW, ScopeType.ALL)[""]
    assert value == Decimal("210.00") and detail["currency"] == "EUR"
    assert detail["count"] == 5 and detail["unconverted_count"] == 2
    assert detail["by_currency"]["GBP"] == {"count": 2, "amount": "165.00", "converted": "200.00", "unconverted_count": 0}
    assert detail["by_currency"]["USD"] == {"count": 1, "amount": "50.00", "converted": "0.00", "unconverted_count": 1}
    # The drill-down rows carry the same conversions and sum to the card.
    rows = KPIS["revenue-at-risk"].rows(WINDOW, ScopeType.ALL, "")
    converted = {r.fingerprint: r.converted_amount for r in rows}
    assert converted == {"fp1": Decimal("100.00"), "fp2": Decimal("100.00"), "fp3": Decimal("10.00"),
                         "fp4": None, "fp5": None}
    assert sum(v for v in converted.values() if v is not None) == value


def test_an_inverse_rate_and_the_ecb_cross_rate_serve_another_reporting_currency(queue, settings):
    settings.REPORTING_CURRENCY = "GBP"
    rate("USD", DAY, "1.10")             # EUR->USD (ECB)
    rate("GBP", DAY, "0.85")             # EUR->GBP (ECB)
    exc(queue, 1, "110.00", "USD", at(DAY))   # 110 USD = 100 EUR = 85 GBP, through the ECB base
    exc(queue, 2, "100.00", "EUR", at(DAY))   # EUR->GBP directly: 85 GBP
    value, detail = KPIS["revenue-at-risk"].compute(WINDOW, ScopeType.ALL)[""]
    assert (value, detail["currency"], detail["unconverted_count"]) == (Decimal("170.00"), "GBP", 0)


def test_upload_page_stores_the_ecb_file_for_finance_and_refuses_others(client_as):
    page = client_as("finance").get("/kpis/fx-rates/")
    assert page.status_code == 200 and b"Upload ECB reference rates" in page.content
    upload = SimpleUploadedFile("eurofxref-hist.csv", ECB.encode(), content_type="text/csv")
    response = client_as("finance").post("/kpis/fx-rates/upload/", {"file": upload})
    assert response.status_code == 302
    assert FxRate.objects.count() == 10
    assert FxRate.objects.get(base="EUR", quote="GBP", date=DAY).rate == Decimal("0.85")
    listing = client_as("executive").get("/kpis/fx-rates/?quote=GBP")
    assert listing.status_code == 200 and b"Upload ECB" not in listing.content
    assert [r.quote for r in listing.context["page_obj"]] == ["GBP", "GBP", "GBP"]
    again = SimpleUploadedFile("eurofxref-hist.csv", ECB.encode(), content_type="text/csv")
    assert client_as("executive").post("/kpis/fx-rates/upload/", {"file": again}).status_code == 403
    from controlplane.models import AuditEntry

    assert AuditEntry.objects.filter(action="fx_rates.recorded").count() == 1


def test_a_bad_upload_is_400_with_the_reason_and_stores_nothing(client_as):
    bad = SimpleUploadedFile("rates.csv", b"Date,USD,\n2026-10-14,1.08,\n2026-10-15,oops,\n", content_type="text/csv")
    response = client_as("finance").post("/kpis/fx-rates/upload/", {"file": bad})
    assert response.status_code == 400
    assert b"Line 3, USD" in response.content
    assert not FxRate.objects.exists()


def test_api_posts_and_filters_rates(api_as):
    body = [{"base": "EUR", "quote": "USD", "date": "2026-10-14", "rate": "1.0800"},
            {"base": "EUR", "quote": "GBP", "date": "2026-10-14", "rate": "0.85"}]
    response = api_as("finance").post("/api/v1/fx-rates/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["rates"] == 2
    again = api_as("finance").post("/api/v1/fx-rates/", [{**body[0], "rate": "1.09"}], format="json")
    assert again.status_code == 201 and again.json()["replaced"] == 1
    assert FxRate.objects.get(quote="USD").rate == Decimal("1.09")
    listing = api_as("executive").get("/api/v1/fx-rates/?quote=GBP").json()["results"]
    assert [(r["quote"], r["rate"]) for r in listing] == [("GBP", "0.8500000000")]
    assert api_as("executive").post("/api/v1/fx-rates/", body, format="json").status_code == 403


@pytest.mark.parametrize("item,field", [
    ({"base": "EUR", "quote": "EUR", "date": "2026-10-14", "rate": "1"}, "quote"),
    ({"base": "EUR", "quote": "USD", "date": "2026-10-14", "rate": "0"}, "rate"),
    ({"base": "EUR", "quote": "USD", "date": "2026-10-14", "rate": "-1.2"}, "rate"),
    ({"base": "EUR", "quote": "USD", "date": "3026-10-14", "rate": "1.2"}, "date"),
    ({"base": "eur", "quote": "USD", "date": "2026-10-14", "rate": "1.2"}, "base"),
])
def test_api_refuses_a_bad_rate_and_stores_none_of_the_batch(api_as, item, field):
    good = {"base": "EUR", "quote": "JPY", "date": "2026-10-14", "rate": "160"}
    response = api_as("finance").post("/api/v1/fx-rates/", [good, item], format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]["1"]
    assert not FxRate.objects.exists()


def test_a_new_rate_recomputes_the_money_snapshots_it_touches(queue):
    exc(queue, 1, "85.00", "GBP", at(DAY))
    services.refresh_window(WINDOW)
    before = KpiSnapshot.objects.get(key="revenue-at-risk", scope_type="all", period="day", period_start=DAY)
    assert (before.value, before.detail["unconverted_count"]) == (Decimal("0"), 1)
    services.record_fx_rates(actor=None, rates=[("EUR", "GBP", DAY, Decimal("0.85"))], source="test")
    assert KpiDirtyWindow.objects.filter(key="revenue-at-risk", period="day", period_start=DAY).exists()
    assert not KpiDirtyWindow.objects.filter(key="exception-backlog").exists()  # counts do not move with rates
    services.refresh_dirty()
    after = KpiSnapshot.objects.get(key="revenue-at-risk", scope_type="all", period="day", period_start=DAY)
    assert (after.value, after.detail["unconverted_count"]) == (Decimal("100.0000"), 0)


def test_money_stays_decimal_to_the_csv_and_the_page(queue, client_as):
    rate("GBP", DAY, "0.3")
    exc(queue, 1, "0.10", "GBP", at(DAY))  # 0.10 / 0.3 = 0.333.. -> 0.33
    exc(queue, 2, "0.20", "GBP", at(DAY))  # 0.666.. -> 0.67  (a float sum would show 1.0000000000000002)
    exc(queue, 3, "1234567.89", "EUR", at(DAY))
    services.refresh_window(WINDOW)
    csv_body = b"".join(client_as("executive").get(
        f"/kpis/revenue-at-risk/export.csv?period=day&from={DAY}&to={DAY}").streaming_content).decode()
    assert f"day,{DAY},1234568.8900," in csv_body
    page = client_as("executive").get(f"/kpis/revenue-at-risk/?period=day&from={DAY}&to={DAY}")
    assert b"1,234,568.89" in page.content and b"EUR" in page.content
