"""Catalog test helpers on top of tests/factories.py."""

from tests.factories import (  # noqa: F401  (re-exported for the catalog tests)
    ApiFactory,
    DomainFactory,
    EntityFactory,
    IntegrationFactory,
    SlaFactory,
    SystemFactory,
    TeamFactory,
    WorkflowFactory,
)


def estate(n: int):
    """``n`` of every kind, wired together, for query-count tests."""
    team = TeamFactory()
    for _ in range(n):
        TeamFactory()
        DomainFactory()
        EntityFactory()
        WorkflowFactory(owner_team=team)
    systems = [SystemFactory(owner_team=team) for _ in range(n)]
    apis = [ApiFactory(provider_system=systems[i % len(systems)]) for i in range(n)]
    from catalog.models import CanonicalEntity, Workflow

    entities = list(CanonicalEntity.objects.all()[:3])
    workflows = list(Workflow.objects.all()[:3])
    for i in range(n):
        integration = IntegrationFactory(
            source_system=systems[i % n], target_system=systems[(i + 1) % n], owner_team=team,
            apis=apis[i:i + 2], entities=entities, workflows=workflows,
        )
        if i % 2:
            SlaFactory(integration=integration)
    return team
