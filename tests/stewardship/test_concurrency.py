"""Two stewards acting at once on PostgreSQL: one wins, the other gets 409."""

import pytest
from rest_framework.test import APIClient

from stewardship import services
from stewardship.models import SchemaVersion, SorAssignment
from tests.concurrency import race
from tests.factories import EntityFactory, SystemFactory

from .factories import SubjectFactory


def _client(user):
    client = APIClient()
    client.force_login(user)
    return client


@pytest.mark.django_db(transaction=True)
def test_approve_and_reject_at_once_one_wins(require_postgres, cast, doc):
    version = services.submit(actor=cast["steward"], version=services.create_draft(
        actor=cast["steward"], subject=SubjectFactory(), document=doc))
    third = cast["steward"].__class__.objects.create_user("steward3", password="x")
    third.groups.add(*cast["steward"].groups.all())
    url = f"/api/v1/stewardship/versions/{version.pk}"
    a, b = _client(cast["steward2"]), _client(third)
    statuses = race([
        lambda: a.post(f"{url}/approve/", {"comment": "yes"}, format="json"),
        lambda: b.post(f"{url}/reject/", {"comment": "no"}, format="json"),
    ])
    codes = sorted(r.status_code for r in statuses)
    assert codes == [200, 409], [r.content for r in statuses]
    loser = next(r for r in statuses if r.status_code == 409)
    assert loser.json()["error"]["code"] in ("conflict", "invalid_transition")
    final = SchemaVersion.objects.get(pk=version.pk)
    assert final.status in ("approved", "rejected")
    assert final.reviews.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_approvals_at_once_on_a_single_approval_version(require_postgres, cast, doc):
    version = services.submit(actor=cast["steward"], version=services.create_draft(
        actor=cast["steward"], subject=SubjectFactory(), document=doc))
    third = cast["steward"].__class__.objects.create_user("steward3", password="x")
    third.groups.add(*cast["steward"].groups.all())
    url = f"/api/v1/stewardship/versions/{version.pk}/approve/"
    clients = [_client(cast["steward2"]), _client(third)]
    results = race([lambda c=c: c.post(url, {}, format="json") for c in clients])
    assert sorted(r.status_code for r in results) == [200, 409]
    final = SchemaVersion.objects.get(pk=version.pk)
    assert (final.status, final.number) == ("approved", 1)


@pytest.mark.django_db(transaction=True)
def test_two_subject_versions_published_at_once_get_distinct_numbers(require_postgres, cast, doc):
    subject = SubjectFactory()
    versions = [services.submit(actor=cast["steward"], version=services.create_draft(
        actor=cast["steward"], subject=subject, document=doc)) for _ in range(2)]
    client = _client(cast["steward2"])
    other = _client(cast["steward2"])
    results = race([
        lambda: client.post(f"/api/v1/stewardship/versions/{versions[0].pk}/approve/", {}, format="json"),
        lambda: other.post(f"/api/v1/stewardship/versions/{versions[1].pk}/approve/", {}, format="json"),
    ])
    assert [r.status_code for r in results] == [200, 200]
    assert sorted(SchemaVersion.objects.filter(subject=subject).values_list("number", flat=True)) == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_two_sor_proposals_approved_at_once_leave_one_approved(require_postgres, cast):
    entity = EntityFactory()
    p1 = services.propose_sor(actor=cast["steward"], entity=entity, system=SystemFactory())
    p2 = services.propose_sor(actor=cast["steward"], entity=entity, system=SystemFactory())
    a, b = _client(cast["steward2"]), _client(cast["steward2"])
    results = race([
        lambda: a.post(f"/api/v1/stewardship/sor-assignments/{p1.pk}/approve/", {}, format="json"),
        lambda: b.post(f"/api/v1/stewardship/sor-assignments/{p2.pk}/approve/", {}, format="json"),
    ])
    codes = sorted(r.status_code for r in results)
    # Either the second supersedes the first (both 200) or the race is refused (409);
    # never two approved rows.
    assert codes in ([200, 200], [200, 409])
    assert SorAssignment.objects.filter(entity=entity, status="approved").count() == 1
