import io

from catalog import demo
from catalog.models import Api, Integration, Sla, System, Team, TeamMember
from controlplane.models import AuditEntry


def _counts():
    return {m.__name__: m.objects.count() for m in (Team, TeamMember, System, Api, Integration, Sla, AuditEntry)}


def test_demo_loads_a_realistic_estate_and_loading_twice_changes_nothing(cast):
    out = io.StringIO()
    demo.load(stdout=out)
    first = _counts()
    assert first["System"] >= 12 and first["Api"] >= 30 and first["Integration"] >= 40 and first["Team"] >= 6
    assert Sla.objects.count() >= first["Integration"] * 0.75
    assert Api.objects.filter(lifecycle="deprecated").count() >= 2
    assert Api.objects.exclude(definition="").filter(definition_format="openapi").exists()
    assert set(Api.objects.values_list("layer", flat=True)) == {"system", "process", "experience"}
    # Demo users are members of teams.
    assert TeamMember.objects.filter(user__username="architect").exists()
    assert TeamMember.objects.filter(user__username="finance").exists()
    # Every seeded workflow carries integrations.
    from catalog.models import Workflow

    assert not Workflow.objects.filter(integrations__isnull=True).exists()

    demo.load(stdout=io.StringIO())
    assert _counts() == first
