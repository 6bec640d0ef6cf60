"""A wire registration (``POST /subjects/{s}/versions``) checks a new schema before it
takes the subject's lock: what the producer and the steward see must be what a check
under the lock would have given, whatever was approved or changed meanwhile."""

import json
import threading
import time

import pytest
from django.db import connections, transaction
from django.test import Client

from controlplane.models import AuditEntry
from stewardship import services
from stewardship.choices import VersionStatus
from stewardship.models import SchemaVersion
from tests.concurrency import race

from .registry_support import ORDER_V1, ORDER_V2, basic, orders_subject, schema_body

pytestmark = pytest.mark.django_db

URL = "/registry/confluent/subjects/orders-value/versions"
CT = "application/vnd.schemaregistry.v1+json"
# Reads what v1 wrote (amount was required there) but not what ORDER_V2 writes (amount may
# be missing): compatible with v1 only.
NEEDS_AMOUNT = {**ORDER_V1, "description": "An order, amount required again."}


def register(cast, document):
    client = Client(HTTP_AUTHORIZATION=basic("service", cast.token))
    response = client.post(URL, json.dumps(schema_body(document)), content_type=CT)
    return response.status_code, json.loads(response.content)


def in_review(subject, document):
    version = services.create_draft(actor=subject.created_by, subject=subject, document=document)
    return services.submit(actor=subject.created_by, version=version)


def while_checking(monkeypatch, change):
    """Run ``change()`` right after the registration read the approved versions it checks
    against, before it locks the subject (a steward acting at that moment)."""
    read = services.approved_rows

    def read_then_change(subject):
        rows = read(subject)
        change()
        return rows

    monkeypatch.setattr(services, "approved_rows", read_then_change)


def test_a_version_approved_while_the_check_ran_is_checked_against(cast, monkeypatch):
    subject = orders_subject(cast)
    pending = in_review(subject, ORDER_V2)
    while_checking(monkeypatch, lambda: services.approve(actor=cast["steward"], version=pending))
    status, body = register(cast, NEEDS_AMOUNT)
    assert status == 409 and "incompatible" in body["message"]
    assert not SchemaVersion.objects.filter(subject=subject, document=NEEDS_AMOUNT).exists()


def test_a_level_changed_while_the_check_ran_is_the_one_applied(cast, monkeypatch):
    subject = orders_subject(cast)
    services.update_subject(actor=cast["steward"], subject=subject, compatibility_level="NONE")
    publish_v2 = in_review(subject, ORDER_V2)
    services.approve(actor=cast["steward"], version=publish_v2)
    while_checking(monkeypatch, lambda: services.update_subject(actor=cast["steward"], subject=subject,
                                                                compatibility_level="BACKWARD"))
    status, body = register(cast, NEEDS_AMOUNT)
    assert status == 409 and "level BACKWARD" in body["message"]


def test_an_unchanged_subject_gets_the_review_with_the_full_report_and_its_audit_rows(cast):
    subject = orders_subject(cast)
    services.update_subject(actor=cast["steward"], subject=subject, compatibility_level="BACKWARD_TRANSITIVE")
    services.approve(actor=cast["steward"], version=in_review(subject, ORDER_V2))
    newer = {**ORDER_V2, "description": "An order, v3."}
    status, body = register(cast, newer)
    assert status == 422 and body["error_code"] == 42290 and "BACKWARD_TRANSITIVE" in body["message"]
    version = SchemaVersion.objects.get(subject=subject, status=VersionStatus.IN_REVIEW)
    assert version.compat_report["compatible"] is True
    assert version.compat_report["checked_versions"] == [2, 1]
    assert version.compared_with.number == 2 and version.required_approvals == 1
    rows = AuditEntry.objects.filter(object_id=str(version.pk), action__startswith="schemaversion.").order_by("pk")
    assert [(r.action, r.object_repr) for r in rows] == [
        ("schemaversion.create", "Orders (Kafka value) v3 (draft)"),
        ("schemaversion.submit", "Orders (Kafka value) v3 (in review)"),
    ]
    # The same text again answers the same review, checked or not.
    assert register(cast, newer)[1]["error_code"] == 42290
    assert SchemaVersion.objects.filter(subject=subject, status=VersionStatus.IN_REVIEW).count() == 1


def test_a_registration_reads_the_database_a_bounded_number_of_times(cast, django_assert_max_num_queries):
    subject = orders_subject(cast)
    for n in range(2, 8):
        services.approve(actor=cast["steward"], version=in_review(subject, {**ORDER_V1, "description": f"v{n}"}))
    register(cast, {**ORDER_V1, "description": "warm"})  # the token lookup and permissions are cached
    # 12 today (16, and 31 before that); a token lookup older than its one-second cache adds three.
    with django_assert_max_num_queries(15):  # whatever the number of approved versions
        status, body = register(cast, {**ORDER_V1, "description": "v8"})
    assert body["error_code"] == 42290


# --- at the same moment (PostgreSQL) -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_same_new_text_registered_twice_at_once_opens_one_review(require_postgres, cast):
    subject = orders_subject(cast)
    newer = {**ORDER_V2, "description": "Sent by two producers at once."}
    results = race([lambda: register(cast, newer), lambda: register(cast, newer)])
    assert [body["error_code"] for _status, body in results] == [42290, 42290], results
    assert SchemaVersion.objects.filter(subject=subject, status=VersionStatus.IN_REVIEW).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_registration_does_not_wait_for_another_text_but_an_approval_waits_for_it(require_postgres, cast):
    subject = orders_subject(cast)
    pending = in_review(subject, ORDER_V2)
    held, release = threading.Event(), threading.Event()

    def hold():  # a registration of some text, between its lock and its commit
        try:
            with transaction.atomic():
                services._hold_subject_for_registration(subject, "f" * 64)
                held.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    try:
        started = time.monotonic()
        status, body = register(cast, {**ORDER_V2, "description": "Another text."})
        assert body["error_code"] == 42290 and time.monotonic() - started < 5
        approvals = []
        approver = threading.Thread(target=lambda: approvals.append(race([
            lambda: services.approve(actor=cast["steward"], version=pending)])[0]))
        approver.start()
        approver.join(1)
        assert approver.is_alive()  # numbering the version waits for the registration
    finally:
        release.set()
        holder.join(10)
    approver.join(10)
    assert approvals[0].number == 2


def test_the_teams_using_the_subject_are_told_of_the_review_and_nobody_else(cast, django_capture_on_commit_callbacks):
    from django.core import mail

    from controlplane.models import OutboxMessage
    from tests.factories import IntegrationFactory

    subject = orders_subject(cast)
    queued = OutboxMessage.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        register(cast, {**ORDER_V2, "description": "Nobody uses it yet."})
    assert mail.outbox == [] and OutboxMessage.objects.count() == queued

    integration = IntegrationFactory(entities=[subject.entity])
    with django_capture_on_commit_callbacks(execute=True):
        register(cast, {**ORDER_V2, "description": "Now somebody does."})
    assert [m.to for m in mail.outbox] == [[integration.owner_team.email]]
    assert "is in review" in mail.outbox[0].subject and integration.name in mail.outbox[0].body
