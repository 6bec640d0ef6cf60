"""Service-token requests: the token lookup is reused for at most a second, so a token
revoked by another web process stops working within 1 s (this process's own revocation
at once), and machine requests skip the browser-only middleware (no session, no
messages)."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from controlplane import roles
from controlplane.models import ServiceToken
from controlplane.services import create_service_account, revoke_service_token
from health.services import config_for
from tests.factories import IntegrationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/health/status/"


def _token_queries(queries):
    return [q for q in queries if "controlplane_servicetoken" in q["sql"] and q["sql"].lstrip().startswith("SELECT")]


def test_a_token_revoked_elsewhere_stops_working_within_one_second(client):
    token, key = create_service_account(name="mw", role=roles.INTEGRATION, all_integrations=True)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert client.get(URL, **auth).status_code == 200
    with CaptureQueriesContext(connection) as cached:
        assert client.get(URL, **auth).status_code == 200
    assert _token_queries(cached) == []  # the lookup was reused
    # Another web process revokes it: this process's cache is not told.
    ServiceToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    revoked_at = time.monotonic()
    while True:
        sent = time.monotonic()
        if client.get(URL, **auth).status_code != 200:
            break
        assert sent - revoked_at < 1.0, "a request sent 1 s after the revocation was still let in"
        time.sleep(0.05)
    assert client.get(URL, **auth).status_code == 401


def test_a_token_revoked_here_stops_at_once(client, architect):
    token, key = create_service_account(name="mw2", role=roles.INTEGRATION, all_integrations=True)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert client.get(URL, **auth).status_code == 200
    revoke_service_token(token=token, actor=architect)
    assert client.get(URL, **auth).status_code == 401


def test_machine_requests_skip_sessions_and_messages(client, architect):
    _token, key = create_service_account(name="mw3", role=roles.INTEGRATION, all_integrations=True)
    beat = f"/api/v1/heartbeat/{config_for(IntegrationFactory()).heartbeat_token}"
    for response in (client.get(URL, HTTP_AUTHORIZATION=f"Bearer {key}"), client.post(beat)):
        assert response.status_code == 200
        assert "Set-Cookie" not in response and not response.cookies
        assert not hasattr(response.wsgi_request, "session") and not hasattr(response.wsgi_request, "_messages")
        assert "X-Request-ID" in response  # the project's own middleware still runs
    # a browser page keeps them all
    client.force_login(architect)
    page = client.get("/health/")
    assert page.status_code == 200 and hasattr(page.wsgi_request, "session")
    # a Bearer header does not open a page outside /api/: the sign-in check still runs
    anonymous = client.__class__()
    assert anonymous.get("/health/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 302
