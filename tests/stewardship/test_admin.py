"""Admin: the stewardship models are browsable, and admin actions go through the services."""

import pytest
from django.test import Client

from controlplane.models import AuditEntry
from stewardship import services
from tests.factories import EntityFactory, SystemFactory

from .factories import SorFactory, VersionFactory

pytestmark = pytest.mark.django_db


def test_admin_pages_and_sor_action(superuser, cast):
    VersionFactory()
    SorFactory()
    client = Client()
    client.force_login(superuser)
    for name in ("sorassignment", "schemasubject", "schemaversion", "stewardshipsettings"):
        assert client.get(f"/admin/stewardship/{name}/").status_code == 200, name
    proposal = services.propose_sor(actor=cast["steward"], entity=EntityFactory(), system=SystemFactory())
    client.post("/admin/stewardship/sorassignment/", {"action": "approve_selected", "_selected_action": [proposal.pk]})
    proposal.refresh_from_db()
    assert proposal.status == "approved" and proposal.decided_by == superuser
    assert AuditEntry.objects.filter(action="sor.approve", object_id=str(proposal.pk)).exists()
    # the proposer cannot approve their own proposal from the admin either
    own = services.propose_sor(actor=superuser, entity=EntityFactory(), system=SystemFactory())
    client.post("/admin/stewardship/sorassignment/", {"action": "approve_selected", "_selected_action": [own.pk]})
    own.refresh_from_db()
    assert own.status == "proposed"


def test_first_version_page_and_draft_edit(client_as, cast, doc):
    from django.urls import reverse

    version = services.create_draft(actor=cast["steward"], subject=VersionFactory().subject, document=doc)
    html = client_as("steward").get(reverse("stewardship:version-detail", args=[version.pk])).content.decode()
    assert "Submit for review" in html and "Edit draft" in html and "schema-diff single" in html
    assert client_as("steward").get(reverse("stewardship:draft-edit", args=[version.pk])).status_code == 200
    r = client_as("steward2").post(reverse("stewardship:draft-edit", args=[version.pk]), {"document": "{\"type\": \"object\"}"})
    assert r.status_code == 400 and "Only the author" in r.content.decode()
    html = client_as("steward2").get(reverse("stewardship:version-detail", args=[version.pk])).content.decode()
    assert "Submit for review" not in html
