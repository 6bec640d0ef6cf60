"""factory_boy factories for the stewardship app."""

import factory

from stewardship.models import SchemaSubject, SchemaVersion, SorAssignment
from tests.factories import EntityFactory, SystemFactory

BASE_DOC = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {"id": {"type": "string"}, "name": {"type": "string", "maxLength": 100}},
    "required": ["id"],
}


class SubjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SchemaSubject
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Subject {n}")
    slug = factory.Sequence(lambda n: f"subject-{n}")
    entity = factory.SubFactory(EntityFactory)
    format = "json-schema"


class VersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SchemaVersion

    subject = factory.SubFactory(SubjectFactory)
    document = factory.LazyFunction(lambda: dict(BASE_DOC))
    status = "draft"


class SorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SorAssignment

    entity = factory.SubFactory(EntityFactory)
    system = factory.SubFactory(SystemFactory)
    scope_type = "global"
    scope_value = ""
    attribute_group = "all"
    status = "proposed"
