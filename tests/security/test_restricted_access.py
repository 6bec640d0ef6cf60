"""Restricted data stays restricted: who may change who sees a restricted queue (its team's
leads and superusers, on every path), one visibility rule for previews, and mentions and
assignee lists that offer only people who may work the item."""

import pytest
from django.core import mail
from django.urls import reverse

from catalog import services as catalog_services
from catalog.models import TeamMember
from controlplane import roles
from controlplane.errors import NotAllowed
from controlplane.models import AuditEntry
from exceptions import services
from exceptions.models import Comment, Queue
from health.models import Notification, NotificationChannel
from tests.conftest import make_user
from tests.exceptions.factories import BusinessExceptionFactory, QueueFactory
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def payroll(cast):
    """The Payroll team owns the restricted Payroll queue: ``finance`` is a member,
    ``lead`` (Finance role) is its lead; ``finance2`` is Finance but not in the team."""
    team = TeamFactory(name="Payroll", slug="payroll", email="payroll@example.com")
    TeamMember.objects.create(team=team, user=cast["finance"], name="Finance", email="finance@example.com")
    lead = make_user("lead", roles.FINANCE)
    TeamMember.objects.create(team=team, user=lead, name="Lead", email="lead@example.com", is_lead=True)
    cast["lead"], cast["finance2"] = lead, make_user("finance2", roles.FINANCE)
    queue = QueueFactory(name="Payroll", slug="payroll", team=team, restricted=True)
    hidden = BusinessExceptionFactory(queue=queue, invoice_number="INV-SECRET")
    NotificationChannel.objects.create(team=team, name="payroll mail", kind="email", target="payroll-alerts@example.com")
    return team, queue, hidden


def _session(client_class, user):
    client = client_class()
    client.force_login(user)
    return client


def _api(user):
    from rest_framework.test import APIClient

    return _session(APIClient, user)


def _browser(user):
    from django.test import Client

    return _session(Client, user)


def _members(team):
    return set(TeamMember.objects.filter(team=team, user__isnull=False).values_list("user__username", flat=True))


# --- membership of a team owning a restricted queue -------------------------------------

def test_an_architect_cannot_join_a_restricted_team_on_any_path(cast, payroll):
    team, _queue, _ = payroll
    architect = cast["architect"]
    before = _members(team)
    response = _api(architect).post("/api/v1/catalog/team-members/", {"team": "payroll", "user": "architect"}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    page = _browser(architect).post(reverse("catalog:team-member-add", args=["payroll"]), {"user": architect.pk}, follow=True)
    assert "Only a lead of Payroll or an administrator" in page.content.decode()
    with pytest.raises(NotAllowed):  # the service itself (admin, importer and commands call it)
        catalog_services.add_team_member(actor=architect, team=team, user=architect)
    assert _members(team) == before
    # Nor can they add someone by name and email only: those get the queue's overdue emails.
    with pytest.raises(NotAllowed):
        catalog_services.add_team_member(actor=architect, team=team, name="Mole", email="mole@example.com")


def test_an_architect_cannot_remove_or_promote_members_of_a_restricted_team(cast, payroll):
    team, _queue, _ = payroll
    member = TeamMember.objects.get(team=team, user=cast["finance"])
    response = _api(cast["architect"]).delete(f"/api/v1/catalog/team-members/{member.pk}/")
    assert response.status_code == 403
    page = _browser(cast["architect"]).post(reverse("catalog:team-member-remove", args=["payroll", member.pk]), follow=True)
    assert page.status_code == 200 and "Only a lead of Payroll" in page.content.decode()
    with pytest.raises(NotAllowed):
        catalog_services.update_team_member(actor=cast["architect"], member=member, is_lead=True)
    with pytest.raises(NotAllowed):  # swapping the login behind a membership is a membership change
        catalog_services.update_team_member(actor=cast["architect"], member=member, user=cast["architect"])
    member.refresh_from_db()
    assert member.user == cast["finance"] and not member.is_lead


def test_a_lead_changes_membership_audited_and_the_team_is_told(cast, payroll, django_capture_on_commit_callbacks):
    team, _queue, _ = payroll
    with django_capture_on_commit_callbacks(execute=True):
        added = catalog_services.add_team_member(actor=cast["lead"], team=team, user=cast["finance2"])
    assert "finance2" in _members(team)
    entry = AuditEntry.objects.filter(action="team.member_added").latest("id")
    assert entry.actor == cast["lead"] and entry.after["user"] == cast["finance2"].pk
    message = next(m for m in mail.outbox if "payroll@example.com" in m.to)
    assert set(message.to) >= {"payroll@example.com", "finance@example.com", "lead@example.com", "finance2@example.com"}
    assert "lead added finance2 to Payroll" in message.body and "Payroll" in message.subject
    channel_notice = Notification.objects.get(channel__team=team, event="access_changed")
    assert "added finance2" in channel_notice.payload["reason"]
    assert any(m.to == ["payroll-alerts@example.com"] for m in mail.outbox)  # the channel (email) delivered it
    # Removal: the person removed is told too (they are no longer in the member list).
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        catalog_services.remove_team_member(actor=cast["lead"], member=added)
    message = next(m for m in mail.outbox if "payroll@example.com" in m.to)
    assert "finance2@example.com" in message.to and "removed finance2" in message.body


def test_a_superuser_may_and_unrestricted_teams_keep_the_architect_rule(cast, payroll, superuser):
    team, _queue, _ = payroll
    catalog_services.add_team_member(actor=superuser, team=team, user=cast["architect"])
    assert "architect" in _members(team)
    open_team = TeamFactory(name="Delivery", slug="delivery")
    QueueFactory(name="PMO", slug="pmo", team=open_team)
    response = _api(cast["architect"]).post("/api/v1/catalog/team-members/", {"team": "delivery", "user": "architect"},
                                            format="json")
    assert response.status_code == 201


# --- a queue's restriction and team ------------------------------------------------------

def test_an_architect_cannot_lift_a_restriction_or_move_a_restricted_queue(cast, payroll):
    _team, queue, _ = payroll
    api = _api(cast["architect"])
    TeamFactory(name="Architecture", slug="architecture")
    for change in ({"restricted": False}, {"team": "architecture"}):
        response = api.patch(f"/api/v1/exceptions/queues/{queue.pk}/", change, format="json")
        assert response.status_code == 403, change
    queue.refresh_from_db()
    assert queue.restricted and queue.team.slug == "payroll"
    # Changing what is not about access is still the architect's job.
    assert api.patch(f"/api/v1/exceptions/queues/{queue.pk}/", {"target_hours_high": 12}, format="json").status_code == 200
    # Nor may they create a restricted queue for a team they do not lead.
    response = api.post("/api/v1/exceptions/queues/", {"name": "Secret", "team": "architecture", "restricted": True},
                        format="json")
    assert response.status_code == 403 and not Queue.objects.filter(name="Secret").exists()


def test_lifting_a_restriction_needs_the_lead_is_audited_and_announced(cast, payroll, django_capture_on_commit_callbacks):
    team, queue, _ = payroll
    with django_capture_on_commit_callbacks(execute=True):
        services.save_queue(actor=cast["lead"], queue=queue, data={"restricted": False})
    queue.refresh_from_db()
    assert not queue.restricted
    entry = AuditEntry.objects.filter(action="queue.changed").latest("id")
    assert entry.before["restricted"] is True and entry.after["restricted"] is False and entry.actor == cast["lead"]
    message = next(m for m in mail.outbox if "payroll@example.com" in m.to)
    assert "lifted the restriction on the queue Payroll" in message.body


def test_moving_a_restricted_queue_needs_a_governor_of_both_teams(cast, payroll, superuser):
    _team, queue, _ = payroll
    other = TeamFactory(name="Audit", slug="audit")
    with pytest.raises(NotAllowed):  # the Payroll lead does not lead Audit
        services.save_queue(actor=cast["lead"], queue=queue, data={"team": other})
    services.save_queue(actor=superuser, queue=queue, data={"team": other})
    assert Queue.objects.get(pk=queue.pk).team == other


def test_the_admin_queue_form_goes_through_the_service(cast, payroll, superuser):
    _team, queue, _ = payroll
    client = _browser(superuser)
    url = reverse("admin:exceptions_queue_change", args=[queue.pk])
    form = {"name": "Payroll", "slug": "payroll", "description": "", "team": queue.team_id, "target_hours_critical": 4,
            "target_hours_high": 24, "target_hours_medium": 72, "target_hours_low": 168}
    assert client.post(url, form).status_code == 302  # "restricted" unticked: lifted by a superuser
    assert not Queue.objects.get(pk=queue.pk).restricted
    assert AuditEntry.objects.filter(action="queue.changed", actor=superuser).exists()


# --- one visibility rule: the routing preview ---------------------------------------------

def test_routing_preview_lists_only_what_the_caller_may_see(cast, payroll):
    _team, queue, hidden = payroll
    shown = BusinessExceptionFactory(queue=QueueFactory(name="Billing", slug="billing"), integration=hidden.integration)
    target = QueueFactory(name="Elsewhere", slug="elsewhere")
    rule = {"name": "everything", "position": 1, "queue": target.slug, "integration": hidden.integration.slug}
    outsider = _api(cast["architect"]).post("/api/v1/exceptions/rules/preview/", rule, format="json").json()
    assert {c["id"] for c in outsider["changes"]} == {shown.pk} and outsider["count"] == 1
    TeamMember.objects.create(team=queue.team, user=cast["architect"], name="Architect")
    member = _api(cast["architect"]).post("/api/v1/exceptions/rules/preview/", rule, format="json").json()
    assert {c["id"] for c in member["changes"]} == {shown.pk, hidden.pk}


# --- mentions and the assignee list -------------------------------------------------------

def test_mentions_link_only_people_who_may_work_the_item(cast, payroll, django_capture_on_commit_callbacks):
    _team, _queue, hidden = payroll
    body = "@lead @finance2 @executive @service @steward @nobody please look"
    with django_capture_on_commit_callbacks(execute=True):
        comment = services.add_comment(exception=hidden, actor=cast["finance"], body=body)
    assert list(comment.mentions.values_list("username", flat=True)) == ["lead"]
    assert [m.to for m in mail.outbox] == [["lead@example.com"]]
    # On an open queue, finance2 may work it; the executive and the service account never.
    shown = BusinessExceptionFactory(queue=QueueFactory(name="Billing", slug="billing"))
    comment = services.add_comment(exception=shown, actor=cast["finance"], body=body)
    assert set(comment.mentions.values_list("username", flat=True)) == {"lead", "finance2"}


def test_a_mention_of_an_unknown_and_of_an_ineligible_name_answer_the_same(cast, payroll):
    _team, _queue, hidden = payroll
    api = _api(cast["finance"])
    url = f"/api/v1/exceptions/items/{hidden.pk}/comments/"
    answers = []
    for name in ("finance2", "executive", "service", "no-such-user"):
        data = api.post(url, {"body": f"@{name} fyi"}, format="json").json()
        answers.append((data["mentions"], sorted(data)))
    assert all(answer == answers[0] for answer in answers) and answers[0][0] == []
    assert Comment.objects.filter(exception=hidden).count() == 4


def test_the_assignee_list_offers_only_people_who_may_work_the_item(cast, payroll, superuser):
    _team, _queue, hidden = payroll
    page = _browser(cast["finance"]).get(reverse("exceptions:detail", args=[hidden.pk])).content.decode()
    select = page[page.index('name="assignee"'):page.index("</select>", page.index('name="assignee"'))]
    for offered in ("finance", "lead", "admin"):
        assert f'value="{offered}"' in select, offered
    for hidden_name in ("finance2", "executive", "service", "steward", "architect"):
        assert f'value="{hidden_name}"' not in select, hidden_name


def test_assigning_an_unknown_or_ineligible_name_is_the_same_400(cast, payroll):
    _team, _queue, hidden = payroll
    api = _api(cast["finance"])
    url = f"/api/v1/exceptions/items/{hidden.pk}/assign/"
    bodies = {name: api.post(url, {"assignee": name}, format="json") for name in ("finance2", "executive", "service", "ghost")}
    assert {r.status_code for r in bodies.values()} == {400}
    assert len({r.content for r in bodies.values()}) == 1
    assert api.post(url, {"assignee": "lead"}, format="json").json()["assignee"] == "lead"
    # Bulk: each item says the same thing for an unknown and an ineligible name.
    bulk = {name: api.post("/api/v1/exceptions/items/bulk/", {"ids": [hidden.pk], "action": "assign", "assignee": name},
                           format="json").json() for name in ("finance2", "ghost")}
    assert bulk["finance2"] == bulk["ghost"] and bulk["ghost"]["done"] == []


def test_a_bulk_replay_listing_one_id_twice_queues_one_replay(cast, payroll):
    from exceptions.models import ReplayAttempt
    from tests.exceptions.factories import ReplayTargetFactory

    _team, _queue, hidden = payroll
    ReplayTargetFactory(integration=hidden.integration)
    done, failed = services.bulk_apply(ids=[hidden.pk, hidden.pk], actor=cast["finance"], action="replay")
    assert done == [hidden.pk] and failed == {}
    assert ReplayAttempt.objects.filter(exception=hidden).values("replay_id").distinct().count() <= 1


def test_rules_feeding_a_restricted_queue_are_changed_only_by_its_governors(cast, payroll):
    from exceptions.models import RoutingRule
    from tests.exceptions.factories import RoutingRuleFactory

    _team, queue, _ = payroll
    rule = RoutingRuleFactory(queue=queue, business_key="legal_entity", business_value="PAY")
    billing = QueueFactory(name="Billing", slug="billing")
    api = _api(cast["architect"])
    assert api.patch(f"/api/v1/exceptions/rules/{rule.pk}/", {"queue": billing.slug}, format="json").status_code == 403
    assert api.patch(f"/api/v1/exceptions/rules/{rule.pk}/", {"enabled": False}, format="json").status_code == 403
    assert api.delete(f"/api/v1/exceptions/rules/{rule.pk}/").status_code == 403
    page = _browser(cast["architect"]).post(reverse("exceptions:rule-edit", args=[rule.pk]),
                                            {"name": rule.name, "position": rule.position, "queue": billing.pk,
                                             "error_code_match": "exact", "enabled": "on"})
    assert page.status_code == 200 and "Only a lead of Payroll" in page.content.decode()
    rule.refresh_from_db()
    assert rule.queue == queue and rule.enabled
    services.save_routing_rule(actor=cast["lead"], rule=rule, data={"enabled": False})
    assert not RoutingRule.objects.get(pk=rule.pk).enabled
