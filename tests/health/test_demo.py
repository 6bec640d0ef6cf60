import io

import pytest

from health.models import Flip, HealthConfig, Probe, Rollup
from tests.factories import IntegrationFactory, SlaFactory

pytestmark = pytest.mark.django_db

def test_demo_is_idempotent_and_fills_the_pages(client_as):
    for _ in range(5):
        SlaFactory(integration=IntegrationFactory())
    from health import demo
    out = io.StringIO()
    demo.load(out)
    counts = (Probe.objects.count(), Rollup.objects.count(), Flip.objects.count())
    demo.load(out)
    assert (Probe.objects.count(), Rollup.objects.count(), Flip.objects.count()) == counts
    assert counts[1] > 5 * 700
    assert HealthConfig.objects.filter(status="down").exists()
    client = client_as("executive")
    slug = Probe.objects.first().integration.slug
    assert client.get("/health/").status_code == 200
    html = client.get(f"/health/integrations/{slug}/").content.decode()
    assert '"uptime"' in html
    assert client.get("/health/sla/").status_code == 200


def test_demo_without_catalog_skips():
    from health import demo
    out = io.StringIO()
    demo.load(out)
    assert "skipping" in out.getvalue()
