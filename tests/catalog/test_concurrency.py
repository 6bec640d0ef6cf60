"""Two architects moving the same integration at once: one wins, the other gets a 409."""

import pytest

from catalog import services
from catalog.models import Integration
from controlplane.errors import DomainError
from controlplane.models import AuditEntry
from tests.catalog.factories import IntegrationFactory
from tests.concurrency import race


@pytest.mark.postgres
def test_concurrent_lifecycle_moves_have_one_winner(require_postgres, transactional_db, cast):
    integration = IntegrationFactory(lifecycle="active")

    def move(target):
        try:
            services.change_lifecycle(actor=cast["architect"], obj=Integration.objects.get(pk=integration.pk),
                                      lifecycle=target)
            return "ok"
        except DomainError as exc:
            return exc.status_code

    # Both deprecate it: the second, once it gets the row, finds it already deprecated.
    outcomes = race([lambda: move("deprecated"), lambda: move("deprecated")])
    assert sorted(outcomes, key=str) == [409, "ok"]
    integration.refresh_from_db()
    assert integration.lifecycle == "deprecated"
    assert AuditEntry.objects.filter(action="integration.lifecycle_changed").count() == 1
