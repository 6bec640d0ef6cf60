import pytest
from django.urls import reverse

from catalog.models import Api, CanonicalEntity, Domain, Integration, System, Team, Workflow
from tests.catalog.factories import estate


@pytest.mark.django_db
def test_pages_render(client_as):
    estate(3)
    c = client_as("architect")
    for name in ["team", "domain", "system", "api", "entity", "workflow", "integration"]:
        r = c.get(reverse(f"catalog:{name}-list"))
        assert r.status_code == 200, name
        r = c.get(reverse(f"catalog:{name}-create"))
        assert r.status_code == 200, name
    for model in [Team, Domain, System, Api, CanonicalEntity, Workflow, Integration]:
        obj = model.objects.first()
        r = c.get(obj.get_absolute_url())
        assert r.status_code == 200, model
        r = c.get(reverse(f"catalog:{obj.url_name}-edit", args=[obj.slug]))
        assert r.status_code == 200, model
    assert c.get(reverse("catalog:home")).status_code == 200
