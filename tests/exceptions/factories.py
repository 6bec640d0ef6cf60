import datetime

import factory
from django.utils import timezone

from exceptions.models import BusinessException, Queue, ReplayTarget, RoutingRule
from tests.factories import IntegrationFactory, TeamFactory


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Queue {n}")
    slug = factory.Sequence(lambda n: f"queue-{n}")
    team = factory.SubFactory(TeamFactory)


class RoutingRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoutingRule

    name = factory.Sequence(lambda n: f"Rule {n}")
    position = factory.Sequence(lambda n: 10 + n)
    queue = factory.SubFactory(QueueFactory)


class BusinessExceptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessException

    integration = factory.SubFactory(IntegrationFactory)
    error_code = "TAX_CODE_MISMATCH"
    message = "Tax code V7 unknown in ERP"
    severity = "medium"
    reported_severity = "medium"
    queue = factory.SubFactory(QueueFactory)
    fingerprint = factory.Sequence(lambda n: f"fp-{n}")
    invoice_number = factory.Sequence(lambda n: f"INV-2026-{n:04d}")
    business_keys = factory.LazyAttribute(lambda o: {"invoice_number": o.invoice_number})
    amount_at_risk = 1000
    currency = "GBP"
    due_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(hours=24))
    payload = factory.LazyAttribute(lambda o: {"invoice": o.invoice_number, "tax_code": "V7"})


class ReplayTargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReplayTarget

    integration = factory.SubFactory(IntegrationFactory)
    url = "http://127.0.0.1:9/replay"
    secret = "s3cret"
    max_attempts = 3
