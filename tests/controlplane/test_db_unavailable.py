"""A lost database connection answers a clean 503 (API error shape, or a plain page), not
a 500 traceback; other errors keep their usual answers."""

import pytest
from django.db import IntegrityError, OperationalError
from django.test import Client

from controlplane.authentication import ServiceTokenAuthentication


def _refused(*args, **kwargs):
    raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')


def test_api_write_while_database_is_down_is_503_in_error_shape(api_as, monkeypatch):
    client = api_as("service")
    monkeypatch.setattr(ServiceTokenAuthentication, "authenticate_key", _refused)
    response = client.post("/api/v1/exceptions/ingest/", {"integration": "x"}, format="json")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["error"]["code"] == "database_unavailable"
    assert "Retry" in body["error"]["message"]
    assert body["error"]["fields"]["request_id"] == response["X-Request-ID"]


def test_page_whose_session_lookup_fails_is_a_plain_503_page(finance, monkeypatch):
    from django.contrib.sessions.backends.db import SessionStore

    client = Client(raise_request_exception=False)
    client.force_login(finance)
    # The session is read by LoginRequiredMiddleware, before any view runs.
    monkeypatch.setattr(SessionStore, "load", _refused)
    response = client.get("/exceptions/list/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    html = response.content.decode()
    assert "Temporarily unavailable" in html and "Traceback" not in html


def test_api_session_lookup_failure_is_503_json_too(finance, monkeypatch):
    from django.contrib.sessions.backends.db import SessionStore

    client = Client(raise_request_exception=False)
    client.force_login(finance)
    monkeypatch.setattr(SessionStore, "load", _refused)
    response = client.get("/api/v1/exceptions/items/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"


def test_driver_error_django_did_not_wrap_is_503_too(finance, monkeypatch):
    """Closing a server-side cursor (a form's choices use .iterator()) raises psycopg's own
    error, not Django's; seen in make chaos as a 500 on the list page."""
    import psycopg

    import exceptions.views

    def closed(*args, **kwargs):
        raise psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly")

    client = Client(raise_request_exception=False)
    client.force_login(finance)
    monkeypatch.setattr(exceptions.views, "_list", closed)
    response = client.get("/exceptions/list/")
    assert response.status_code == 503
    assert "Temporarily unavailable" in response.content.decode()


def test_integrity_errors_and_bugs_keep_their_answers(api_as, monkeypatch):
    client = Client(raise_request_exception=False)
    client.defaults["HTTP_AUTHORIZATION"] = api_as("service")._credentials["HTTP_AUTHORIZATION"]

    def conflict(*args, **kwargs):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(ServiceTokenAuthentication, "authenticate_key", conflict)
    assert client.get("/api/v1/exceptions/items/").status_code == 409

    def bug(*args, **kwargs):
        raise ZeroDivisionError

    monkeypatch.setattr(ServiceTokenAuthentication, "authenticate_key", bug)
    response = client.get("/api/v1/exceptions/items/")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"


@pytest.fixture(autouse=True)
def _no_debug(settings):
    settings.DEBUG = False


def test_a_deadlock_is_not_reported_as_an_outage(api_as, monkeypatch):
    import psycopg

    client = Client(raise_request_exception=False)
    client.defaults["HTTP_AUTHORIZATION"] = api_as("service")._credentials["HTTP_AUTHORIZATION"]

    def deadlock(*args, **kwargs):
        raise OperationalError("deadlock detected") from psycopg.errors.DeadlockDetected("deadlock detected")

    monkeypatch.setattr(ServiceTokenAuthentication, "authenticate_key", deadlock)
    response = client.get("/api/v1/exceptions/items/")
    # A race between requests is a bug to fix, logged as one; not "the database is down".
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
