import pytest

from exceptions import demo
from exceptions.models import BusinessException, Queue, RoutingRule
from tests.factories import IntegrationFactory


@pytest.mark.django_db
def test_demo_skips_without_catalog_and_is_idempotent():
    demo.load()
    assert BusinessException.objects.count() == 0
    IntegrationFactory()
    demo.load()
    demo.load()
    assert BusinessException.objects.count() == 200
    assert set(Queue.objects.values_list("name", flat=True)) == {"Billing", "Master Data", "PMO", "Integration Ops"}
    assert RoutingRule.objects.count() == 7
    assert BusinessException.objects.overdue().exists() and BusinessException.objects.filter(status="resolved").exists()
