"""The demo loader is idempotent and leaves the findings the demo is meant to show."""

import io

import pytest
from django.contrib.auth.models import Group

from controlplane import roles
from stewardship import demo
from stewardship.models import SchemaSubject, SchemaVersion, SorAssignment
from stewardship.selectors import entities_without_sor
from tests.conftest import make_user
from tests.factories import ApiFactory, SystemFactory

pytestmark = pytest.mark.django_db


def test_demo_twice_changes_nothing(db):
    make_user("steward", roles.STEWARD)
    make_user("steward2", roles.STEWARD)
    for category in ("crm", "psa", "erp", "hris", "tax", "clm"):
        SystemFactory(slug=f"demo-{category}", category=category)
    SystemFactory(slug="legacy-erp", category="erp", lifecycle="retiring")
    ApiFactory(slug="netsuite-suitetalk", finance_sensitive=True)
    demo.load(io.StringIO())
    counts = (SorAssignment.objects.count(), SchemaSubject.objects.count(), SchemaVersion.objects.count())
    demo.load(io.StringIO())
    assert (SorAssignment.objects.count(), SchemaSubject.objects.count(), SchemaVersion.objects.count()) == counts
    assert list(entities_without_sor().values_list("slug", flat=True)) == ["purchase-order"]
    assert SorAssignment.objects.filter(status="proposed").count() == 1
    in_review = SchemaVersion.objects.get(status="in_review")
    assert in_review.subject.slug == "invoice" and in_review.breaking_findings
    assert SchemaVersion.objects.get(subject__slug="invoice-api").number == 1
    assert Group.objects.get(name=roles.STEWARD).user_set.filter(username="steward3").exists()


def test_demo_without_stewards_or_systems_is_harmless(db):
    out = io.StringIO()
    demo.load(out)
    assert "skipped" in out.getvalue()
    make_user("steward", roles.STEWARD)
    make_user("steward2", roles.STEWARD)
    demo.load(io.StringIO())
    assert SorAssignment.objects.count() == 0  # no systems to point at
