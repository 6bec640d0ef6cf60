"""Rules about particular objects that the role matrix cannot express: nobody approves
their own schema version (or SoR proposal), and restricted exception queues are seen and
worked only by members of the owning team."""

import pytest
from django.urls import reverse

from catalog.models import TeamMember
from exceptions.models import BusinessException
from stewardship.models import SchemaVersion
from tests.exceptions.factories import BusinessExceptionFactory, QueueFactory
from tests.factories import TeamFactory
from tests.stewardship.factories import SorFactory, VersionFactory

pytestmark = pytest.mark.django_db


# --- stewards never approve their own work ---------------------------------------------

@pytest.fixture
def own_version(cast):
    return VersionFactory(status="in_review", author=cast["steward"])


def test_steward_cannot_approve_own_version_in_the_browser(client_as, own_version):
    response = client_as("steward").post(
        reverse("stewardship:version-approve", args=[own_version.pk]), {"seen_status": "in_review"}, follow=True
    )
    assert "cannot review your own submission" in response.content.decode()
    assert SchemaVersion.objects.get(pk=own_version.pk).status == "in_review"


def test_steward_cannot_approve_own_version_over_the_api(api_as, own_version):
    response = api_as("steward").post(f"/api/v1/stewardship/versions/{own_version.pk}/approve/", {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied" or response.json()["error"]["message"]
    assert SchemaVersion.objects.get(pk=own_version.pk).status == "in_review"


def test_steward_cannot_approve_own_sor_proposal(api_as, client_as, cast):
    proposal = SorFactory(proposed_by=cast["steward"])
    assert api_as("steward").post(f"/api/v1/stewardship/sor-assignments/{proposal.pk}/approve/", {},
                                  format="json").status_code == 403
    client_as("steward").post(reverse("stewardship:sor-approve", args=[proposal.pk]), {"seen_status": "proposed"})
    proposal.refresh_from_db()
    assert proposal.status == "proposed"


# --- restricted queues -----------------------------------------------------------------

@pytest.fixture
def payroll(cast):
    """A restricted queue of the Payroll team, of which only ``finance`` is a member, and
    an open queue everyone sees. ``cast['finance2']`` is finance but not in the team."""
    from tests.conftest import make_user

    team = TeamFactory(name="Payroll", slug="payroll")
    TeamMember.objects.create(team=team, user=cast["finance"], name="Finance")
    cast["finance2"] = make_user("finance2", "Finance")
    hidden = BusinessExceptionFactory(queue=QueueFactory(name="Payroll", slug="payroll", team=team, restricted=True),
                                      invoice_number="INV-SECRET")
    shown = BusinessExceptionFactory(queue=QueueFactory(name="Billing", slug="billing"), invoice_number="INV-OPEN")
    return hidden, shown


def _client(cast, name):
    from django.test import Client

    client = Client()
    client.force_login(cast[name])
    return client


def _api(cast, name):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(cast[name])
    return client


def test_non_member_does_not_see_restricted_exceptions_in_lists_or_export(cast, payroll):
    hidden, shown = payroll
    outsider, member = _client(cast, "finance2"), _client(cast, "finance")
    for url in (reverse("exceptions:list"), reverse("exceptions:export")):
        body = b"".join(outsider.get(url).streaming_content) if url.endswith(".csv") else outsider.get(url).content
        assert b"INV-OPEN" in body and b"INV-SECRET" not in body, url
        body = b"".join(member.get(url).streaming_content) if url.endswith(".csv") else member.get(url).content
        assert b"INV-OPEN" in body and b"INV-SECRET" in body, url
    api_ids = {row["id"] for row in _api(cast, "finance2").get("/api/v1/exceptions/items/").json()["results"]}
    assert api_ids == {shown.pk}
    api_ids = {row["id"] for row in _api(cast, "finance").get("/api/v1/exceptions/items/").json()["results"]}
    assert api_ids == {shown.pk, hidden.pk}


def test_non_member_gets_404_on_detail_and_actions(cast, payroll, superuser):
    hidden, _ = payroll
    outsider = _client(cast, "finance2")
    assert outsider.get(reverse("exceptions:detail", args=[hidden.pk])).status_code == 404
    assert outsider.post(reverse("exceptions:action", args=[hidden.pk, "acknowledge"])).status_code == 404
    assert outsider.post(reverse("exceptions:comment", args=[hidden.pk]), {"body": "hi"}).status_code == 404
    api = _api(cast, "finance2")
    assert api.get(f"/api/v1/exceptions/items/{hidden.pk}/").status_code == 404
    assert api.post(f"/api/v1/exceptions/items/{hidden.pk}/acknowledge/", {}, format="json").status_code == 404
    assert BusinessException.objects.get(pk=hidden.pk).status == hidden.status
    # Members and superusers work it as usual.
    assert _client(cast, "finance").get(reverse("exceptions:detail", args=[hidden.pk])).status_code == 200
    admin = _api(cast, "finance")
    admin.force_login(superuser)
    assert admin.get(f"/api/v1/exceptions/items/{hidden.pk}/").status_code == 200
    assert _api(cast, "finance").post(f"/api/v1/exceptions/items/{hidden.pk}/acknowledge/", {},
                                      format="json").status_code == 200


def test_bulk_actions_skip_what_the_actor_may_not_see(cast, payroll):
    hidden, shown = payroll
    response = _api(cast, "finance2").post("/api/v1/exceptions/items/bulk/",
                                           {"ids": [hidden.pk, shown.pk], "action": "acknowledge"}, format="json")
    assert response.status_code == 200
    assert response.json()["done"] == [shown.pk]
    assert response.json()["failed"] == {str(hidden.pk): "Not found."}
    _client(cast, "finance2").post(reverse("exceptions:bulk"), {"ids": [hidden.pk], "action": "assign_me"})
    assert BusinessException.objects.get(pk=hidden.pk).assignee_id is None
    _client(cast, "finance").post(reverse("exceptions:bulk"), {"ids": [hidden.pk], "action": "assign_me"})
    assert BusinessException.objects.get(pk=hidden.pk).assignee_id == cast["finance"].pk


def test_queue_overview_counts_only_visible_exceptions(cast, payroll):
    html = _client(cast, "finance2").get(reverse("exceptions:home")).content.decode()
    member_html = _client(cast, "finance").get(reverse("exceptions:home")).content.decode()
    assert html.count("Payroll") <= member_html.count("Payroll")
    from exceptions.selectors import queue_overview

    outsider_rows = {row["queue"].slug: row["open"] for row in queue_overview(user=cast["finance2"])}
    member_rows = {row["queue"].slug: row["open"] for row in queue_overview(user=cast["finance"])}
    assert outsider_rows.get("payroll", 0) == 0 and member_rows["payroll"] == 1
