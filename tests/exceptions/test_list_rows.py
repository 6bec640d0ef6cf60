"""The exception list's rows (``{% exception_rows %}``, written in Python for speed) show
what the template loop they replaced showed: the same cells, links, labels, escaping,
amounts, dates and overdue marks."""

import datetime
import re
from decimal import Decimal

import pytest
from django.template import engines
from django.utils import timezone

from exceptions.models import BusinessException
from exceptions.templatetags.exception_rows import _Amounts
from tests.factories import EntityFactory, UserFactory

from .factories import BusinessExceptionFactory, QueueFactory

# The loop as it was in templates/exceptions/list.html: the reference.
REFERENCE = """{% for e in page %}
    <tr class="{% if e.overdue_now %}is-overdue{% endif %}">
      <td><input type="checkbox" name="ids" value="{{ e.pk }}" aria-label="Select EXC-{{ e.pk }}"></td>
      <td><a href="{% url 'exceptions:detail' e.pk %}?back={{ back|urlencode }}">EXC-{{ e.pk }}</a> <code>{{ e.error_code }}</code><br><small>{{ e.message|truncatechars:90 }}</small></td>
      <td><span class="badge badge-{{ e.status }}">{{ e.get_status_display }}</span></td>
      <td><span class="badge badge-sev-{{ e.severity }}">{{ e.get_severity_display }}</span></td>
      <td>{{ e.queue.name }}</td>
      <td>{{ e.integration.name }}{% if e.entity %}<br><small class="muted">{{ e.entity.name }}</small>{% endif %}</td>
      <td><small>{% if e.invoice_number %}{{ e.invoice_number }} {% endif %}{% if e.project_code %}{{ e.project_code }} {% endif %}{% if e.legal_entity %}{{ e.legal_entity }}{% endif %}</small></td>
      <td class="num">{% if e.amount_at_risk %}{{ e.currency }} {{ e.amount_at_risk|floatformat:"2g" }}{% endif %}</td>
      <td>{% if e.assignee %}{% firstof e.assignee.get_full_name e.assignee.username %}{% else %}—{% endif %}</td>
      <td><small>{{ e.last_seen|date:"Y-m-d H:i" }}{% if e.occurrences > 1 %} ×{{ e.occurrences }}{% endif %}</small></td>
      <td><small>{% if e.due_at %}{{ e.due_at|date:"Y-m-d H:i" }}{% endif %}{% if e.overdue_now %} <strong class="overdue">overdue</strong>{% endif %}</small></td>
    </tr>
  {% empty %}
    <tr><td colspan="11">No exceptions match.</td></tr>
  {% endfor %}"""


def _render(source, page, back):
    return engines["django"].from_string(source).render({"page": page, "back": back})


def _squash(html):
    return re.sub(r">\s+<", "><", html.strip())


@pytest.fixture
def varied(db):
    now = timezone.now()
    queue = QueueFactory(name="Billing & <Tax>")
    named = UserFactory(username="ana", first_name="Ana", last_name="Ng")
    bare = UserFactory(username="bo<b>", first_name="", last_name="")
    return [
        BusinessExceptionFactory(queue=queue, message="x" * 200, amount_at_risk=Decimal("1234567.895"),
                                 entity=EntityFactory(name="Invoice <line>"), assignee=named, occurrences=7,
                                 project_code="P-1", legal_entity="UK01",
                                 due_at=now - datetime.timedelta(hours=1)),
        BusinessExceptionFactory(queue=queue, message='<script>alert("x")</script> & more', amount_at_risk=0,
                                 assignee=bare, invoice_number="", due_at=None, status="resolved"),
        BusinessExceptionFactory(queue=queue, amount_at_risk=Decimal("-0.005"), currency="EUR", severity="critical",
                                 error_code="A&B", due_at=now - datetime.timedelta(days=2), status="resolved"),
        BusinessExceptionFactory(queue=queue, amount_at_risk=Decimal("99999999999999.99"), contract="C-9",
                                 last_seen=datetime.datetime(2026, 1, 2, 3, 4, 59, tzinfo=datetime.UTC)),
    ]


def test_rows_match_the_template_they_replaced(varied):
    page = list(BusinessException.objects.select_related("integration", "entity", "queue", "assignee")
                .order_by("-last_seen", "-id"))
    back = "/exceptions/list/?status=open&q=a b&integration=x/y"
    new = _render("{% load exception_rows %}{% exception_rows page back %}", page, back)
    old = _render(REFERENCE, page, back)
    assert _squash(new) == _squash(old)
    # What a finance user reads in it, spelled out once.
    assert "is-overdue" in new and "overdue</strong>" in new
    assert "GBP 1,234,567.90" in new and "Ana Ng" in new and "bo&lt;b&gt;" in new and "×7" in new
    assert "&lt;script&gt;" in new and "<script>" not in new
    assert "?back=/exceptions/list/%3Fstatus%3Dopen%26q%3Da%20b%26integration%3Dx/y" in new


def test_an_empty_page_says_so(db):
    assert _squash(_render("{% load exception_rows %}{% exception_rows page back %}", [], "/")) == \
        _squash(_render(REFERENCE, [], "/"))


@pytest.mark.parametrize("value", ["0.005", "-0.005", "1", "-1234.5", "1000000", "0.994", "12345678901234.56"])
def test_amounts_are_floatformat_2g(value):
    rendered = engines["django"].from_string('{{ v|floatformat:"2g" }}').render({"v": Decimal(value)})
    assert _Amounts()(Decimal(value)) == rendered
