"""The wire API's hot read path (GET /schemas/ids/{id} with HTTP Basic): no browser
middleware, no schema or permission query after the first call, and a revoked token stops reading within the
second docs/security.md promises (this process's own revocation at once)."""

import json
import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from controlplane import roles
from controlplane.models import ServiceToken
from controlplane.services import create_service_account, revoke_service_token

from .registry_support import basic, orders_subject

pytestmark = pytest.mark.django_db


def _id_url(subject):
    return f"/registry/confluent/schemas/ids/{subject.versions.get(number=1).registry_schema_id}"


def test_basic_reads_skip_the_browser_middleware_and_the_database(cast):
    url = _id_url(orders_subject(cast))
    client = Client(HTTP_AUTHORIZATION=basic("service", cast.token))
    first = client.get(url)
    assert first.status_code == 200 and json.loads(first.content)["schemaType"] == "JSON"
    with CaptureQueriesContext(connection) as queries:
        again = client.get(url)
    assert again.content == first.content
    assert [q for q in queries if "stewardship_" in q["sql"] or "auth_" in q["sql"]] == []
    assert "Set-Cookie" not in again and not hasattr(again.wsgi_request, "session")
    assert "X-Request-ID" in again and "Content-Security-Policy" in again
    # A Basic credential is never traded for the browser session sent beside it.
    signed_in = Client(HTTP_AUTHORIZATION=basic("service", "cp_wrong"))
    signed_in.force_login(cast["executive"])
    assert signed_in.get(url).status_code == 401
    browser = Client()
    browser.force_login(cast["executive"])
    assert browser.get(url).status_code == 200  # a session alone still reads


def test_a_token_revoked_elsewhere_stops_reading_within_one_second(cast):
    url = _id_url(orders_subject(cast))
    token, key = create_service_account(name="consumer", role=roles.INTEGRATION, all_integrations=True)
    client = Client(HTTP_AUTHORIZATION=basic("consumer", key))
    assert client.get(url).status_code == 200
    ServiceToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())  # another web process
    revoked_at = time.monotonic()
    while True:
        sent = time.monotonic()
        if client.get(url).status_code != 200:
            break
        assert sent - revoked_at < 1.0, "a read sent 1 s after the revocation was still served"
        time.sleep(0.05)
    assert client.get(url).status_code == 401


def test_a_token_revoked_here_stops_reading_at_once(cast):
    url = _id_url(orders_subject(cast))
    token, key = create_service_account(name="consumer2", role=roles.INTEGRATION, all_integrations=True)
    client = Client(HTTP_AUTHORIZATION=basic("consumer2", key))
    assert client.get(url).status_code == 200
    revoke_service_token(token=token, actor=cast["architect"])
    assert client.get(url).status_code == 401
