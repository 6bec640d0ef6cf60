"""Copy and polish a user notices: wording, admin names, favicon, Redoc without CDN fonts,
quiet logs (no email bodies, no tracebacks for a 403), absolute links in emails."""

import logging

import pytest
from django.core import mail
from django.test import override_settings

from exceptions import services as exception_services
from tests.exceptions.factories import BusinessExceptionFactory

pytestmark = pytest.mark.django_db


def test_register_an_api_wording(client_as):
    client = client_as("architect")
    assert "Register an API" in client.get("/catalog/apis/").content.decode()
    form = client.get("/catalog/apis/new/").content.decode()
    assert "Register an API" in form and "Register a API" not in form
    assert "Register a system" in client.get("/catalog/systems/new/").content.decode()


def test_admin_names_read_well(client, superuser):
    client.force_login(superuser)
    html = client.get("/admin/").content.decode()
    for name in ["SLA breaches", "KPI snapshots", "KPI targets", "Status changes", "APIs", "SoR assignments"]:
        assert f">{name}<" in html, name
    assert "Sla breachs" not in html and "Kpi snapshots" not in html


def test_favicon_in_pages_and_at_the_root(client_as, client):
    assert 'rel="icon" href="/static/img/favicon.svg"' in client_as("finance").get("/").content.decode()
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("/static/img/favicon.svg")


def test_redoc_loads_nothing_from_a_cdn(client_as):
    html = client_as("architect").get("/api/redoc/").content.decode()
    assert "fonts.googleapis" not in html and "fonts.gstatic" not in html and "https://" not in html
    assert "redoc.standalone.js" in html and "system-ui" in html


def test_forbidden_is_logged_without_a_traceback(client_as, caplog):
    from controlplane.log_filters import NoTracebackForClientErrors

    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client_as("executive").get("/exceptions/export.csv").status_code == 403
    records = [r for r in caplog.records if r.name == "django.request" and r.status_code == 403]
    # One line (method, path), no traceback: the console handler's filter dropped it.
    assert records and all(r.exc_info is None for r in records)
    assert "Forbidden" in records[0].getMessage()
    try:
        raise PermissionError("no")
    except PermissionError:
        import sys

        record = logging.LogRecord("django.request", logging.WARNING, "x", 1, "Forbidden", (), sys.exc_info())
    record.status_code = 403
    assert NoTracebackForClientErrors().filter(record) and record.exc_info is None
    record500 = logging.LogRecord("django.request", logging.ERROR, "x", 1, "boom", (), (ValueError, ValueError(), None))
    record500.status_code = 500
    assert NoTracebackForClientErrors().filter(record500) and record500.exc_info is not None


def test_the_default_email_backend_logs_no_body(caplog):
    from django.core.mail import EmailMessage, get_connection

    connection = get_connection("controlplane.mail.LogEmailBackend")
    with caplog.at_level(logging.INFO, logger="controlplane.mail"):
        EmailMessage("[UK invoicing] 1 exception(s) overdue", "INV-UK-2026-0042 secret body", "cp@x",
                     ["billing@firm.example"], connection=connection).send()
    text = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "billing@firm.example" in text and "overdue" in text and "secret body" not in text


def test_mention_email_link_is_absolute_after_commit(cast, finance, architect, django_capture_on_commit_callbacks):
    exc = BusinessExceptionFactory()
    # Finance may work the item, so a mention of them sends mail (a steward would not be offered).
    with override_settings(SITE_URL="https://control.firm.example"), django_capture_on_commit_callbacks(execute=True):
        exception_services.add_comment(exception=exc, actor=architect, body="@finance can you check the rate card?")
    assert len(mail.outbox) == 1
    assert f"https://control.firm.example/exceptions/{exc.pk}/" in mail.outbox[0].body
