"""Systems of record: the database constraint, the proposal workflow, the findings."""

import pytest
from django.db import IntegrityError, transaction

from catalog.choices import SystemLifecycle
from controlplane.errors import Conflict, NotAllowed, ValidationFailed
from controlplane.models import AuditEntry
from stewardship import services
from stewardship.models import SorAssignment
from stewardship.scorecard_checks import CHECKS
from stewardship.selectors import entity_findings, sor_matrix
from tests.factories import EntityFactory, IntegrationFactory, SystemFactory

from .factories import SorFactory

pytestmark = pytest.mark.django_db


def test_database_refuses_two_approved_assignments_for_one_slice():
    first = SorFactory(status="approved")
    with pytest.raises(IntegrityError), transaction.atomic():
        SorAssignment.objects.create(entity=first.entity, system=SystemFactory(), status="approved")
    # other scopes, attribute groups and non-approved rows are fine
    SorAssignment.objects.create(entity=first.entity, system=SystemFactory(), status="approved",
                                 scope_type="region", scope_value="EU")
    SorAssignment.objects.create(entity=first.entity, system=SystemFactory(), status="approved", attribute_group="tax")
    SorAssignment.objects.create(entity=first.entity, system=SystemFactory(), status="proposed")
    SorAssignment.objects.create(entity=first.entity, system=SystemFactory(), status="superseded")


def test_database_refuses_scope_value_that_does_not_match_type():
    with pytest.raises(IntegrityError), transaction.atomic():
        SorFactory(scope_type="region", scope_value="")


def test_propose_then_another_steward_approves_and_supersedes(cast):
    entity, crm, erp = EntityFactory(), SystemFactory(), SystemFactory()
    first = services.propose_sor(actor=cast["steward"], entity=entity, system=crm)
    with pytest.raises(NotAllowed):
        services.approve_sor(actor=cast["steward"], assignment=first)
    first = services.approve_sor(actor=cast["steward2"], assignment=first)
    assert first.status == "approved" and first.decided_by == cast["steward2"]
    second = services.propose_sor(actor=cast["steward2"], entity=entity, system=erp, comments="ERP owns invoices now")
    second = services.approve_sor(actor=cast["steward"], assignment=second)
    first.refresh_from_db()
    assert (first.status, second.status) == ("superseded", "approved")
    assert first.effective_to is not None
    actions = set(AuditEntry.objects.filter(action__startswith="sor.").values_list("action", flat=True))
    assert actions == {"sor.propose", "sor.approve", "sor.supersede"}


def test_reject_and_non_steward_cannot_decide(cast):
    proposal = services.propose_sor(actor=cast["steward"], entity=EntityFactory(), system=SystemFactory())
    with pytest.raises(NotAllowed):
        services.approve_sor(actor=cast["architect"], assignment=proposal)
    proposal = services.reject_sor(actor=cast["steward2"], assignment=proposal, comment="wrong system")
    assert proposal.status == "rejected"
    stale = SorAssignment.objects.get(pk=proposal.pk)
    stale.status = "proposed"  # what a second reviewer still sees on their screen
    with pytest.raises(Conflict):
        services.approve_sor(actor=cast["steward2"], assignment=stale)


def test_scope_validation(cast):
    with pytest.raises(ValidationFailed):
        services.propose_sor(actor=cast["steward"], entity=EntityFactory(), system=SystemFactory(), scope_type="region")
    with pytest.raises(ValidationFailed):
        services.propose_sor(actor=cast["steward"], entity=EntityFactory(), system=SystemFactory(), scope_value="EU")


def test_findings_no_sor_unmanaged_writer_and_retiring(cast):
    invoice, client, project = EntityFactory(), EntityFactory(), EntityFactory()
    erp = SystemFactory(lifecycle=SystemLifecycle.ACTIVE)
    crm = SystemFactory(lifecycle=SystemLifecycle.RETIRING)
    psa, bi = SystemFactory(), SystemFactory()
    SorFactory(entity=invoice, system=erp, status="approved")
    SorFactory(entity=client, system=crm, status="approved")
    writer = IntegrationFactory(name="PSA to BI invoices", source_system=psa, target_system=bi, entities=[invoice])
    IntegrationFactory(source_system=erp, target_system=bi, entities=[invoice])  # reads from the SoR: fine
    IntegrationFactory(source_system=psa, target_system=erp, entities=[invoice])  # writes into the SoR: fine
    findings = entity_findings([invoice, client, project])
    assert [(f["kind"], f["integration"]) for f in findings[invoice.pk]] == [("unmanaged_writer", writer)]
    assert [f["kind"] for f in findings[client.pk]] == ["sor_retiring"]
    assert [f["kind"] for f in findings[project.pk]] == ["no_sor"]


def test_matrix_marks_pending_proposals_and_scopes(cast, django_assert_max_num_queries):
    entity = EntityFactory()
    SorFactory(entity=entity, status="approved")
    SorFactory(entity=entity, status="proposed", scope_type="region", scope_value="EU")
    for _ in range(5):
        SorFactory(status="approved")
    with django_assert_max_num_queries(4):
        scopes, rows = sor_matrix()
    assert [s["label"] for s in scopes] == ["Global", "Region: EU"]
    row = next(r for r in rows if r["entity"] == entity)
    assert len(row["cells"][0]["approved"]) == 1 and len(row["cells"][1]["pending"]) == 1


def test_scorecard_check_lists_entities_without_sor():
    covered, bare = EntityFactory(), EntityFactory()
    SorFactory(entity=covered, status="approved")
    SorFactory(entity=bare, status="proposed")
    check = next(c for c in CHECKS if c["key"] == "entity-without-sor")
    assert check["applies_to"] == "entity" and check["severity"] == "high"
    failing = set(check["failing"]())
    assert bare in failing and covered not in failing
