import datetime

import pytest
from django.core import mail
from django.utils import timezone

from catalog.models import TeamMember
from exceptions.models import BusinessException
from exceptions.schedules import PERIODIC_TASKS
from exceptions.tasks import mark_overdue

from .factories import BusinessExceptionFactory, QueueFactory


@pytest.mark.django_db
def test_overdue_task_marks_raises_and_emails_team(finance, django_capture_on_commit_callbacks):
    past = timezone.now() - datetime.timedelta(hours=1)
    escalating = QueueFactory(name="Billing", raise_severity_when_overdue=True)
    TeamMember.objects.create(team=escalating.team, user=finance, name="Fran")
    plain = QueueFactory(name="PMO")
    a = BusinessExceptionFactory(queue=escalating, severity="medium", due_at=past)
    b = BusinessExceptionFactory(queue=plain, severity="medium", due_at=past)
    not_due = BusinessExceptionFactory(queue=plain, due_at=timezone.now() + datetime.timedelta(hours=2))
    closed = BusinessExceptionFactory(queue=plain, due_at=past, status="resolved")
    with django_capture_on_commit_callbacks(execute=True):
        assert mark_overdue.apply().get() == 2
    a.refresh_from_db(); b.refresh_from_db(); not_due.refresh_from_db(); closed.refresh_from_db()  # noqa: E702
    assert a.is_overdue and a.severity == "high"
    assert b.is_overdue and b.severity == "medium"
    assert not not_due.is_overdue and not closed.is_overdue
    recipients = [set(m.to) for m in mail.outbox]
    assert {escalating.team.email, "finance@example.com"} in recipients
    assert "went overdue" in mail.outbox[0].body
    assert any(plain.team.email in m.to for m in mail.outbox)
    # a second run finds nothing new and sends nothing
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert mark_overdue.apply().get() == 0
    assert mail.outbox == []
    assert BusinessException.objects.filter(is_overdue=True).count() == 2


def test_overdue_is_scheduled():
    assert any(t["task"] == "exceptions.tasks.mark_overdue" for t in PERIODIC_TASKS)
