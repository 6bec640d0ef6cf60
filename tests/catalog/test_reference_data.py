"""The shared reference data (domains, canonical entities, workflows) survives an emptied
database, and a deploy's migrate does not bring back an entity the firm deleted."""

import pytest
from django.apps import apps
from django.core.management import call_command

from catalog import reference
from catalog.models import CanonicalEntity, Domain, Workflow


def _slugs(model):
    return set(model.objects.values_list("slug", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_flushed_database_gets_the_reference_data_back():
    call_command("flush", interactive=False, verbosity=0)
    assert _slugs(Domain) == {slug for slug, *_ in reference.DOMAINS}
    assert _slugs(CanonicalEntity) == {slug for slug, *_ in reference.ENTITIES}
    assert _slugs(Workflow) == {slug for slug, *_ in reference.WORKFLOWS}
    assert CanonicalEntity.objects.get(slug="purchase-order").domain.slug == "finance"


def test_an_entity_the_firm_deleted_stays_deleted_after_migrate(db):
    CanonicalEntity.objects.filter(slug="purchase-order").delete()
    Workflow.objects.filter(slug="collections").update(name="Cash collection")
    reference.seed_after_flush(sender=apps.get_app_config("catalog"), apps=apps, using="default")
    assert "purchase-order" not in _slugs(CanonicalEntity)
    assert Workflow.objects.get(slug="collections").name == "Cash collection"
