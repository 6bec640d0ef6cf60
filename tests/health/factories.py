import factory
from django.utils import timezone

from health.models import HealthConfig, Probe
from tests.factories import IntegrationFactory


class HealthConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HealthConfig
        django_get_or_create = ("integration",)

    integration = factory.SubFactory(IntegrationFactory)


class ProbeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Probe
        skip_postgeneration_save = True

    integration = factory.SubFactory(IntegrationFactory)
    name = factory.Sequence(lambda n: f"probe-{n}")
    url = "http://127.0.0.1:9/ok"
    timeout_ms = 1000
    interval_seconds = 60
    conditions = "[STATUS] == 200"
    next_due_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def with_config(self, create, extracted, **kwargs):
        if create:
            HealthConfig.objects.get_or_create(integration=self.integration)
