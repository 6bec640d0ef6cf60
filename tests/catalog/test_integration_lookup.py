"""The per-process integration-by-slug cache on the machine paths (ingest, sync runs,
events): reused between posts, dropped at once by a change made in this process, never
filled inside a transaction, and handing out copies."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings

from catalog.selectors import integrations_by_slug
from catalog.services import update_integration
from tests.factories import IntegrationFactory

pytestmark = pytest.mark.django_db(transaction=True)


@override_settings(INTEGRATION_LOOKUP_CACHE_MS=60_000)
def test_reused_between_posts_and_dropped_by_a_change_here(architect):
    erp = IntegrationFactory(slug="erp-lookup", name="ERP lookup")
    assert integrations_by_slug(["erp-lookup", "nope"])["erp-lookup"].pk == erp.pk
    with CaptureQueriesContext(connection) as queries:
        again = integrations_by_slug(["erp-lookup"])
    assert again["erp-lookup"].name == "ERP lookup" and len(queries) == 0

    again["erp-lookup"].name = "changed by a caller"  # a copy: nobody else sees it
    assert integrations_by_slug(["erp-lookup"])["erp-lookup"].name == "ERP lookup"

    erp.refresh_from_db()
    update_integration(integration=erp, actor=architect, name="ERP renamed")
    assert integrations_by_slug(["erp-lookup"])["erp-lookup"].name == "ERP renamed"


@override_settings(INTEGRATION_LOOKUP_CACHE_MS=60_000)
def test_unknown_slugs_and_transactions_are_not_cached():
    assert integrations_by_slug(["later"]) == {}
    later = IntegrationFactory(slug="later")
    assert integrations_by_slug(["later"])["later"].pk == later.pk

    IntegrationFactory(slug="in-tx")
    with transaction.atomic():
        integrations_by_slug(["in-tx"])
    with CaptureQueriesContext(connection) as queries:
        integrations_by_slug(["in-tx"])
    assert len(queries) == 1  # read afresh: nothing was kept from inside the transaction
