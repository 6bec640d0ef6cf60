"""Two architects moving the same integration at once: one wins, the other gets a 409."""

import threading

import pytest
from django.db import connection

from catalog import services
from catalog.models import Integration
from controlplane.errors import DomainError
from controlplane.models import AuditEntry
from tests.catalog.factories import IntegrationFactory


@pytest.mark.postgres
def test_concurrent_lifecycle_moves_have_one_winner(require_postgres, transactional_db, cast):
    integration = IntegrationFactory(lifecycle="active")
    barrier = threading.Barrier(2)
    outcomes = {}

    def move(name, target):
        try:
            barrier.wait(timeout=5)
            services.change_lifecycle(actor=cast["architect"], obj=Integration.objects.get(pk=integration.pk),
                                      lifecycle=target)
            outcomes[name] = "ok"
        except DomainError as exc:
            outcomes[name] = exc.status_code
        finally:
            connection.close()

    # Both deprecate it: the second, once it gets the row, finds it already deprecated.
    threads = [threading.Thread(target=move, args=(name, "deprecated")) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(outcomes.values(), key=str) == [409, "ok"]
    integration.refresh_from_db()
    assert integration.lifecycle == "deprecated"
    assert AuditEntry.objects.filter(action="integration.lifecycle_changed").count() == 1
