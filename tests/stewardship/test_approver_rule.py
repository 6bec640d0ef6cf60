"""The approver count is re-evaluated at each decision: the stricter of the rule at
submission and the rule now (a version must not publish on one approval because its API
became finance-sensitive, or a tier-1 integration came to depend on it, while it waited)."""

import pytest

from catalog.choices import Criticality
from controlplane.errors import ValidationFailed
from controlplane.models import AuditEntry
from controlplane.validation import COMMENT_MAX_LENGTH
from stewardship import services
from stewardship.models import Review, SchemaVersion
from tests.factories import ApiFactory, EntityFactory, IntegrationFactory

from .factories import SubjectFactory

pytestmark = pytest.mark.django_db


def _submit(cast, subject, doc):
    return services.submit(actor=cast["steward"],
                           version=services.create_draft(actor=cast["steward"], subject=subject, document=doc))


def _third_steward(cast):
    third = cast["steward"].__class__.objects.create_user("steward3", password="x")
    third.groups.add(*cast["steward"].groups.all())
    return third


def test_rule_tightened_during_review_needs_the_second_approval(cast, fake_engine, doc):
    entity = EntityFactory()
    subject = SubjectFactory(entity=entity)
    version = _submit(cast, subject, doc)
    assert version.required_approvals == 1
    # While it waits, a tier-1 integration starts carrying the entity.
    IntegrationFactory(entities=[entity], criticality=Criticality.TIER_1)
    version = services.approve(actor=cast["steward2"], version=SchemaVersion.objects.get(pk=version.pk))
    assert (version.status, version.number, version.required_approvals) == ("in_review", None, 2)
    entry = AuditEntry.objects.filter(object_id=str(version.pk), action="schemaversion.approve").get()
    assert entry.after["required"] == 2 and entry.after["required_at_submission"] == 1
    version = services.approve(actor=_third_steward(cast), version=SchemaVersion.objects.get(pk=version.pk))
    assert (version.status, version.number) == ("approved", 1)


def _api_version_then_flip_sensitivity(cast, *, sensitive_at_submission):
    """A version of an API's schema submitted, then the API's finance flag flipped."""
    api = ApiFactory(finance_sensitive=sensitive_at_submission)
    subject = SubjectFactory(entity=None, api=api, format="openapi")
    spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}}
    version = _submit(cast, subject, spec)
    assert version.required_approvals == (2 if sensitive_at_submission else 1)
    api.finance_sensitive = not sensitive_at_submission
    api.save(update_fields=["finance_sensitive"])
    return version


def test_api_made_finance_sensitive_during_review(cast, fake_engine):
    version = _api_version_then_flip_sensitivity(cast, sensitive_at_submission=False)
    version = services.approve(actor=cast["steward2"], version=SchemaVersion.objects.get(pk=version.pk))
    assert version.status == "in_review"
    assert SchemaVersion.objects.get(pk=version.pk).required_approvals == 2


def test_rule_relaxed_during_review_keeps_the_stricter_count(cast, fake_engine):
    version = _api_version_then_flip_sensitivity(cast, sensitive_at_submission=True)
    version = services.approve(actor=cast["steward2"], version=SchemaVersion.objects.get(pk=version.pk))
    assert (version.status, version.required_approvals) == ("in_review", 2)


def test_review_comments_have_a_size_limit(cast, fake_engine, doc):
    version = _submit(cast, SubjectFactory(), doc)
    too_long = "x" * (COMMENT_MAX_LENGTH + 1)
    with pytest.raises(ValidationFailed):
        services.reject(actor=cast["steward2"], version=version, comment=too_long)
    with pytest.raises(ValidationFailed):
        services.approve(actor=cast["steward2"], version=version, comment=too_long)
    assert not Review.objects.exists()
    assert SchemaVersion.objects.get(pk=version.pk).status == "in_review"
