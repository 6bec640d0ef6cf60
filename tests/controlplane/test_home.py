"""The page after sign-in shows each persona's own work, linking to the lists behind it,
in a bounded number of queries."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import TeamMember
from health.models import HealthConfig, SlaBreach
from tests.exceptions.factories import BusinessExceptionFactory, QueueFactory
from tests.factories import IntegrationFactory, TeamFactory
from tests.stewardship.factories import VersionFactory

pytestmark = pytest.mark.django_db


def _join(user, team):
    TeamMember.objects.create(team=team, user=user, name=user.username)


def test_finance_sees_assigned_overdue_and_money_per_currency_in_own_queues(client_as, finance, steward,
                                                                             django_assert_max_num_queries):
    billing = TeamFactory(name="Billing Operations")
    other = TeamFactory(name="Data & Analytics")
    _join(finance, billing)
    mine = QueueFactory(name="UK invoices", team=billing)
    theirs = QueueFactory(name="Analytics feeds", team=other)
    past = timezone.now() - dt.timedelta(hours=2)
    BusinessExceptionFactory(queue=mine, assignee=finance, amount_at_risk=Decimal("1200.50"), currency="GBP", due_at=past)
    BusinessExceptionFactory(queue=mine, assignee=finance, amount_at_risk=Decimal("300"), currency="GBP")
    BusinessExceptionFactory(queue=mine, amount_at_risk=Decimal("999"), currency="USD")
    BusinessExceptionFactory(queue=mine, amount_at_risk=Decimal("5"), currency="GBP", status="resolved")
    BusinessExceptionFactory(queue=theirs, amount_at_risk=Decimal("77777"), currency="EUR", due_at=past)
    client = client_as("finance")
    with django_assert_max_num_queries(10):
        response = client.get("/")
    block = response.context["blocks"]["finance"]
    assert (block["mine_open"], block["mine_overdue"]) == (2, 1)
    assert [q["queue"].name for q in block["queues"]] == ["UK invoices"]  # only my team's queue
    queue = block["queues"][0]
    assert (queue["open"], queue["overdue"]) == (3, 1)
    # Per currency, side by side; the resolved one and the other team's EUR are not counted.
    assert queue["amounts"] == [("GBP", Decimal("1500.50")), ("USD", Decimal("999"))]
    html = response.content.decode()
    assert "GBP 1,500.50" in html and "USD 999.00" in html and "77,777" not in html
    assert f'href="/exceptions/list/?queue={mine.pk}&amp;status=open&amp;overdue=true"' in html
    # The links open exactly the rows the numbers count.
    listing = client.get(queue["overdue_url"])
    assert [e.pk for e in listing.context["page"]] and len(listing.context["page"]) == 1
    assert client.get(block["mine_url"]).context["total"] == 2
    assert "home-steward" not in html and "home-executive" not in html


def test_steward_sees_reviews_waiting_for_them_not_their_own(client_as, steward, steward2,
                                                             django_assert_max_num_queries):
    waiting = VersionFactory(status="in_review", author=steward2, submitted_at=timezone.now())
    VersionFactory(status="in_review", author=steward, submitted_at=timezone.now())  # my own: not for me
    VersionFactory(status="draft", author=steward2)
    client = client_as("steward")
    with django_assert_max_num_queries(10):
        response = client.get("/")
    block = response.context["blocks"]["steward"]
    assert [v.pk for v in block["reviews"]] == [waiting.pk] and block["reviews_total"] == 1
    html = response.content.decode()
    assert waiting.subject.name in html and waiting.get_absolute_url() in html
    assert "home-finance" not in html


def test_architect_sees_own_teams_integrations_down_or_breaching_and_scorecard_findings(
        client_as, architect, django_assert_max_num_queries):
    team = TeamFactory(name="Integration Platform")
    _join(architect, team)
    down = IntegrationFactory(name="Time approved → ERP", owner_team=team, lifecycle="live")
    breaching = IntegrationFactory(name="Invoice posted → Tax", owner_team=team, lifecycle="live")
    fine = IntegrationFactory(name="Quiet sync", owner_team=team, lifecycle="live")
    elsewhere = IntegrationFactory(name="Someone else's feed")
    HealthConfig.objects.create(integration=down, status="down")
    HealthConfig.objects.create(integration=fine, status="up")
    HealthConfig.objects.create(integration=elsewhere, status="down")
    SlaBreach.objects.create(integration=breaching, metric="availability", opened_at=timezone.now(), fingerprint="x")
    client = client_as("architect")
    with django_assert_max_num_queries(20):
        response = client.get("/")
    block = response.context["blocks"]["architect"]
    assert [i.name for i in block["troubled"]] == ["Invoice posted → Tax", "Time approved → ERP"]
    assert (block["down"], block["breaching"], block["troubled_total"]) == (1, 1, 2)
    # None of the three live integrations has an SLA: the scorecard says so, counted for my team.
    assert {f["name"]: f["count"] for f in block["findings"]}["Integration without SLA"] == 3
    html = response.content.decode()
    assert "Someone else" not in html and f"/health/?team={team.slug}" in html


def test_executive_sees_headline_kpis_with_trend(client_as, django_assert_max_num_queries):
    client = client_as("executive")
    with django_assert_max_num_queries(40):
        response = client.get("/")
    block = response.context["blocks"]["executive"]
    assert "cards" in block
    html = response.content.decode()
    assert "Headline KPIs, last complete week" in html
    assert "home-finance" not in html and "home-architect" not in html
    for card in block["cards"]:
        assert f"/kpis/{card.kpi.key}/" in html
    # Money cards name the reporting currency, as on the KPIs page, never the word "amount".
    assert any(card.kpi.unit == "amount" for card in block["cards"])
    assert "<small>amount</small>" not in html and "<small>EUR</small>" in html


def test_account_without_a_role_is_told_so(client_as):
    response = client_as("outsider").get("/")
    assert b"no role yet" in response.content
