"""factory_boy factories for the catalog (other apps add theirs in tests/<app>/factories.py)."""

import factory
from django.contrib.auth import get_user_model

from catalog import choices
from catalog.models import Api, CanonicalEntity, Domain, Integration, Sla, System, Team, Workflow


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")
    email = factory.LazyAttribute(lambda o: f"{o.slug}@example.com")


class DomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Domain
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Domain {n}")
    slug = factory.Sequence(lambda n: f"domain-{n}")


class SystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = System
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"System {n}")
    slug = factory.Sequence(lambda n: f"system-{n}")
    vendor = "Acme"
    category = choices.SystemCategory.ERP
    lifecycle = choices.SystemLifecycle.ACTIVE
    owner_team = factory.SubFactory(TeamFactory)


class ApiFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Api
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"API {n}")
    slug = factory.Sequence(lambda n: f"api-{n}")
    provider_system = factory.SubFactory(SystemFactory)
    owner_team = factory.SelfAttribute("provider_system.owner_team")
    lifecycle = choices.ApiLifecycle.PUBLISHED
    version = "1.0"


class EntityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CanonicalEntity
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Entity {n}")
    slug = factory.Sequence(lambda n: f"entity-{n}")


class WorkflowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workflow
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Workflow {n}")
    slug = factory.Sequence(lambda n: f"workflow-{n}")


class IntegrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Integration
        django_get_or_create = ("slug",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Integration {n}")
    slug = factory.Sequence(lambda n: f"integration-{n}")
    source_system = factory.SubFactory(SystemFactory)
    target_system = factory.SubFactory(SystemFactory)
    owner_team = factory.SubFactory(TeamFactory)
    lifecycle = choices.IntegrationLifecycle.ACTIVE
    criticality = choices.Criticality.TIER_2

    @factory.post_generation
    def apis(self, create, extracted, **kwargs):
        if create and extracted:
            self.apis.set(extracted)

    @factory.post_generation
    def entities(self, create, extracted, **kwargs):
        if create and extracted:
            self.entities.set(extracted)

    @factory.post_generation
    def workflows(self, create, extracted, **kwargs):
        if create and extracted:
            self.workflows.set(extracted)


class SlaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sla

    integration = factory.SubFactory(IntegrationFactory)
    availability_target = "99.5"
    p95_latency_ms = 800
    max_sync_lag_minutes = 60
    exception_resolution_hours = 24
