import pytest
from django.core import mail

from controlplane.errors import Conflict, InvalidTransition
from controlplane.models import AuditEntry
from exceptions import services
from exceptions.ingestion import validate_items
from exceptions.models import BusinessException, Comment, DefaultQueue
from exceptions.selectors import queue_overview, routing_preview
from tests.concurrency import race
from tests.factories import EntityFactory, IntegrationFactory

from .factories import BusinessExceptionFactory, QueueFactory, RoutingRuleFactory


def ingest_one(integration, **raw):
    data = {"integration": integration.slug, "error_code": "TAX_CODE_MISMATCH", "message": "m", "severity": "medium"}
    data.update(raw)
    items, errors = validate_items([data])
    assert not errors, errors
    (result,) = services.ingest(items=items, actor=None)
    return BusinessException.objects.get(pk=result["id"])


@pytest.mark.django_db
def test_first_matching_rule_wins_and_sets_assignee_and_severity(finance):
    integ = IntegrationFactory()
    billing, master, pmo = QueueFactory(name="Billing"), QueueFactory(name="Master Data"), QueueFactory(name="PMO")
    RoutingRuleFactory(position=1, queue=billing, business_key="legal_entity", business_value="UK01",
                       assignee=finance, raise_severity_to="critical")
    RoutingRuleFactory(position=2, queue=master, error_code="MD_", error_code_match="prefix")
    RoutingRuleFactory(position=3, queue=pmo, integration=integ)
    uk = ingest_one(integ, business_keys={"legal_entity": "UK01", "invoice_number": "1"})
    assert uk.queue == billing and uk.assignee == finance and uk.severity == "critical" and uk.reported_severity == "medium"
    md = ingest_one(integ, error_code="MD_RATE_CARD", business_keys={"legal_entity": "US01"})
    assert md.queue == master
    other = ingest_one(integ, error_code="OTHER")
    assert other.queue == pmo
    # due time follows the queue's target for the (raised) severity
    hours = (uk.due_at - uk.first_seen).total_seconds() / 3600
    assert hours == billing.target_hours_critical


@pytest.mark.django_db
def test_disabled_rules_skipped_and_default_queue_used():
    integ = IntegrationFactory()
    q, default = QueueFactory(), QueueFactory(name="Default")
    RoutingRuleFactory(queue=q, integration=integ, enabled=False)
    DefaultQueue.objects.create(integration=integ, queue=default)
    assert ingest_one(integ).queue == default


@pytest.mark.django_db
def test_entity_and_severity_conditions():
    integ = IntegrationFactory()
    invoice = EntityFactory(slug="invoice")
    q = QueueFactory()
    RoutingRuleFactory(queue=q, entity=invoice, severity="high")
    assert ingest_one(integ, entity="invoice", severity="high").queue == q
    assert ingest_one(integ, entity="invoice", severity="low", error_code="X").queue.name == "Integration Ops"


@pytest.mark.django_db
def test_routing_preview_lists_exceptions_that_would_move(architect):
    integ = IntegrationFactory()
    billing = QueueFactory(name="Billing")
    uk = ingest_one(integ, business_keys={"legal_entity": "UK01"})
    ingest_one(integ, business_keys={"legal_entity": "US01"})
    candidate = RoutingRuleFactory.build(queue=billing, business_key="legal_entity", business_value="UK01", position=1)
    changes = routing_preview(candidate, user=architect)
    assert [c["exception"].pk for c in changes] == [uk.pk]
    assert changes[0]["was"].name == "Integration Ops"
    assert changes[0]["proposed"] == billing


@pytest.mark.django_db
def test_open_system_exception_dedups_and_auto_resolve(architect):
    integ = IntegrationFactory()
    a = services.open_system_exception(integration=integ, error_code="SLA_BREACH", message="latency", severity="high",
                                       fingerprint="health:sla:1", details={"p95": 900})
    b = services.open_system_exception(integration=integ, error_code="SLA_BREACH", message="latency", severity="high",
                                       fingerprint="health:sla:1")
    assert a.pk == b.pk and b.occurrences == 2 and a.queue.name == "Integration Ops"
    assert services.auto_resolve(fingerprint="health:sla:1", note="recovered") == 1
    b.refresh_from_db()
    assert b.status == "resolved" and b.resolution_code == "fixed_at_source"
    assert services.auto_resolve(fingerprint="health:sla:1") == 0
    c = services.open_system_exception(integration=integ, error_code="SLA_BREACH", message="again", severity="high",
                                       fingerprint="health:sla:1")
    assert c.pk == a.pk and c.status == "reopened"


@pytest.mark.django_db
def test_full_lifecycle_with_audit(finance):
    from controlplane import roles
    from tests.conftest import make_user

    colleague = make_user("finance2", roles.FINANCE)
    exc = BusinessExceptionFactory()
    exc = services.acknowledge(exception=exc, actor=finance)
    assert exc.status == "acknowledged" and exc.assignee == finance
    exc = services.start_progress(exception=exc, actor=finance)
    exc = services.resolve(exception=exc, actor=finance, resolution_code="written_off", note="small amount")
    assert exc.status == "resolved" and exc.resolved_at and exc.resolution_code == "written_off"
    exc = services.reopen(exception=exc, actor=finance, note="not fixed")
    assert exc.status == "reopened" and exc.resolved_at is None
    exc = services.assign(exception=exc, actor=finance, assignee=colleague)
    assert exc.status == "acknowledged" and exc.assignee == colleague
    exc = services.dismiss(exception=exc, actor=finance, resolution_code="duplicate")
    actions = list(AuditEntry.objects.for_object(exc).order_by("id").values_list("action", flat=True))
    assert actions == ["businessexception.acknowledged", "businessexception.started", "businessexception.resolved",
                       "businessexception.reopened", "businessexception.assigned", "businessexception.dismissed"]


@pytest.mark.django_db
def test_invalid_moves_refused(finance):
    exc = BusinessExceptionFactory()
    with pytest.raises(InvalidTransition):
        services.start_progress(exception=exc, actor=finance)  # new -> in progress skips acknowledge
    with pytest.raises(InvalidTransition):
        services.reopen(exception=exc, actor=finance)
    services.resolve(exception=exc, actor=finance, resolution_code="duplicate")
    with pytest.raises(InvalidTransition):
        services.resolve(exception=exc, actor=finance, resolution_code="duplicate")
    with pytest.raises(InvalidTransition):
        services.assign(exception=exc, actor=finance, assignee=finance)


@pytest.mark.django_db
def test_stale_expected_status_is_a_conflict(finance, steward):
    exc = BusinessExceptionFactory()
    services.acknowledge(exception=exc, actor=steward)
    with pytest.raises(Conflict):
        services.acknowledge(exception=exc, actor=finance, expected_status="new")
    exc.refresh_from_db()
    assert exc.assignee == steward


@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_one_wins(require_postgres, cast):
    exc = BusinessExceptionFactory()

    def act(user):
        try:
            services.resolve(exception=exc.pk, actor=user, resolution_code="duplicate", expected_status="new")
            return "ok"
        except (Conflict, InvalidTransition) as e:
            return type(e).__name__

    outcomes = race([lambda u=cast[name]: act(u) for name in ("finance", "steward", "architect", "executive")])
    assert outcomes.count("ok") == 1 and len(outcomes) == 4
    assert AuditEntry.objects.filter(action="businessexception.resolved", object_id=str(exc.pk)).count() == 1


@pytest.mark.django_db
def test_comment_mentions_link_and_email_users(finance, steward, django_capture_on_commit_callbacks):
    from controlplane import roles
    from tests.conftest import make_user

    colleague = make_user("finance2", roles.FINANCE)
    exc = BusinessExceptionFactory()
    with django_capture_on_commit_callbacks(execute=True):
        comment = services.add_comment(exception=exc, actor=finance,
                                       body="@finance2 please check the rate card. @nobody @steward")
    # Only people who may work the item are linked; a steward is plain text, like an unknown name.
    assert list(comment.mentions.all()) == [colleague]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["finance2@example.com"]
    assert Comment.objects.filter(exception=exc).count() == 1


@pytest.mark.django_db
def test_queue_overview_aggregates():
    billing = QueueFactory(name="Billing")
    BusinessExceptionFactory(queue=billing, severity="high", amount_at_risk=100)
    BusinessExceptionFactory(queue=billing, severity="high", amount_at_risk=50, due_at="2020-01-01T00:00:00Z")
    BusinessExceptionFactory(queue=billing, severity="low", amount_at_risk=7, status="resolved")
    BusinessExceptionFactory(queue=billing, severity="low", amount_at_risk=0, currency="USD")
    BusinessExceptionFactory(queue=billing, severity="low", amount_at_risk=0, currency="")
    row = next(r for r in queue_overview() if r["queue"] == billing)
    assert row["open"] == 4 and row["overdue"] == 1
    # Items with nothing at stake are counted but add no "USD 0.00" or "— 0.00" line.
    assert dict(row["amounts"]) == {"GBP": 150}
    low = next(s for s in row["severities"] if s[0] == "low")
    assert low[2] == 2 and low[4] == []
    high = next(s for s in row["severities"] if s[0] == "high")
    assert high[2] == 2 and high[3] == 1
