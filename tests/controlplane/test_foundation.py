import json
import subprocess
import sys

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured

from controlplane import audit, roles
from controlplane.models import AuditEntry, ServiceToken
from controlplane.settings.env import env_bool, env_int, env_url
from tests.factories import TeamFactory


def test_healthz_needs_no_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["X-Request-ID"]


@pytest.mark.django_db
def test_readyz_reports_database_and_broker_to_staff(client, superuser):
    client.force_login(superuser)
    response = client.get("/readyz")
    body = response.json()
    assert set(body["checks"]) == {"database", "broker"}
    assert body["checks"]["database"]["ok"] is True
    assert response.status_code == (200 if body["checks"]["broker"]["ok"] else 503)


@pytest.mark.django_db
def test_readyz_tells_others_only_the_status(client, cast):
    """The deployment (database vendor, broker transport, error texts) is not public."""
    for who in (None, cast["finance"]):
        if who is not None:
            client.force_login(who)
        response = client.get("/readyz")
        assert set(response.json()) == {"status"}
        assert response.json()["status"] == ("ok" if response.status_code == 200 else "unavailable")


@pytest.mark.django_db
def test_readyz_is_503_when_broker_unreachable(client, settings, monkeypatch, superuser):
    from controlplane import views

    def broken():
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(views, "_check_broker", broken)
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json() == {"status": "unavailable"}
    client.force_login(superuser)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {"ok": False, "error": "ConnectionRefusedError: broker down",
                                                     "transport": settings.CELERY_BROKER_URL.split("://")[0]}


@pytest.mark.django_db
def test_pages_redirect_anonymous_users_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert client.get("/login/").status_code == 200


@pytest.mark.django_db
def test_login_and_logout(client, cast):
    response = client.post("/login/", {"username": "finance", "password": "pw-finance"})
    assert response.status_code == 302
    page = client.get("/")
    assert b"Your exceptions" in page.content  # the finance home block: their own work
    client.post("/logout/")
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_wrong_password_is_refused_with_message(client, cast):
    response = client.post("/login/", {"username": "finance", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


@pytest.mark.django_db
def test_outsider_sees_no_role_message(client_as):
    response = client_as("outsider").get("/")
    assert b"no role yet" in response.content


@pytest.mark.django_db
def test_role_groups_exist_with_their_permissions():
    names = set(Group.objects.values_list("name", flat=True))
    assert set(roles.ROLE_PERMISSIONS) <= names
    architect = Group.objects.get(name=roles.ARCHITECT)
    codes = set(architect.permissions.values_list("codename", flat=True))
    assert {"add_system", "change_integration", "view_team"} <= codes
    executive = Group.objects.get(name=roles.EXECUTIVE)
    assert not executive.permissions.exclude(codename__startswith="view_").exists()
    # Token and account tables are never handed out through a role.
    assert not Group.objects.filter(permissions__codename__in=["view_servicetoken", "add_user"]).exists()


@pytest.mark.django_db
def test_service_token_is_hashed_and_revocable(api_as, cast, architect):
    from controlplane.services import revoke_service_token

    token = ServiceToken.objects.get(user=cast["service"])
    assert cast.token not in token.key_hash and token.key_hash == ServiceToken.hash_key(cast.token)
    client = api_as("service")
    assert client.get("/api/schema/?format=json").status_code == 200
    revoke_service_token(token=token, actor=architect)
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert AuditEntry.objects.filter(action="service_token.revoked", object_id=str(token.pk)).exists()


@pytest.mark.django_db
def test_create_service_account_command_prints_token_once():
    from io import StringIO

    from django.core.management import call_command

    out, err = StringIO(), StringIO()
    call_command("create_service_account", "mulesoft", role="integration", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert key.startswith(ServiceToken.PREFIX)
    token = ServiceToken.objects.get(user__username="mulesoft")
    assert token.key_hash == ServiceToken.hash_key(key)
    assert key not in err.getvalue()
    assert token.user.groups.filter(name=roles.INTEGRATION).exists()


@pytest.mark.django_db
def test_unknown_role_is_refused():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="Unknown role"):
        call_command("create_service_account", "x", role="wizard")


@pytest.mark.django_db
def test_bad_token_gets_error_shape(client):
    response = client.get("/api/schema/?format=json", HTTP_AUTHORIZATION="Bearer nonsense")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "fields"}


@pytest.mark.django_db
def test_unknown_api_path_is_json_404(api_as, cast):
    response = api_as("architect").get("/api/v1/nope/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_audit_log_is_append_only(architect):
    team = TeamFactory()
    entry = audit.record(actor=architect, action="team.updated", obj=team, before={"name": "a"}, after={"name": "b"})
    assert entry.changes == [("name", "a", "b")]
    assert list(audit.history(team)) == [entry]
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        AuditEntry.objects.all().delete()
    with pytest.raises(TypeError):
        AuditEntry.objects.update(action="x")


@pytest.mark.django_db
def test_audit_entry_carries_request_id(client_as, architect):
    from controlplane.middleware import _request_id

    token = _request_id.set("req-123")
    try:
        entry = audit.record(actor=architect, action="x", obj=TeamFactory())
    finally:
        _request_id.reset(token)
    assert entry.request_id == "req-123"


def test_settings_fail_loudly_on_bad_values(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG"):
        env_bool("SOME_FLAG", False)
    monkeypatch.setenv("SOME_INT", "ten")
    with pytest.raises(ImproperlyConfigured, match="SOME_INT"):
        env_int("SOME_INT", 1)
    monkeypatch.setenv("DATABASE_URL", "mysql://x")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        env_url("DATABASE_URL", "sqlite://", schemes=("sqlite", "postgres"))


def test_missing_secret_key_stops_startup():
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("SECRET_KEY", "DEBUG", "ALLOW_INSECURE_SECRET_KEY")}
    env["DJANGO_SETTINGS_MODULE"] = "controlplane.settings.base"
    result = subprocess.run([sys.executable, "manage.py", "check"], capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_makemigrations_check_runs_without_a_secret_key_and_finds_no_drift():
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("SECRET_KEY", "DEBUG", "ALLOW_INSECURE_SECRET_KEY")}
    env["DJANGO_SETTINGS_MODULE"] = "controlplane.settings.base"
    result = subprocess.run([sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout


def test_check_deploy_is_clean_with_production_settings():
    env = {**{k: v for k, v in __import__("os").environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
           "DJANGO_SETTINGS_MODULE": "controlplane.settings.production",
           "SECRET_KEY": "k" * 20 + "-production-secret-with-enough-entropy-1234567890"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout + result.stderr


@pytest.mark.django_db
def test_openapi_schema_needs_login_and_renders(api_as, cast):
    assert api_as(None).get("/api/schema/?format=json").status_code in (401, 403)
    response = api_as("executive").get("/api/schema/?format=json")
    assert response.status_code == 200
    assert json.loads(response.content)["info"]["title"].startswith("Integration")


@pytest.mark.django_db
def test_api_docs_served_from_local_static(client_as):
    response = client_as("executive").get("/api/docs/")
    assert response.status_code == 200
    assert b"cdn" not in response.content.lower()


@pytest.mark.django_db
def test_api_schema_and_docs_need_a_role(api_as, client_as):
    assert api_as("outsider").get("/api/schema/?format=json").status_code == 403
    assert client_as("outsider").get("/api/docs/").status_code == 403
    assert api_as("service").get("/api/schema/?format=json").status_code == 200


@pytest.mark.django_db
def test_edit_pages_check_permission_before_revealing_whether_an_object_exists(client_as):
    from tests.factories import IntegrationFactory
    from tests.stewardship.factories import SubjectFactory

    integration, subject = IntegrationFactory(), SubjectFactory()
    client = client_as("executive")  # may read, may not write
    for existing, missing in [
        (f"/health/integrations/{integration.slug}/probes/add/", "/health/integrations/no-such/probes/add/"),
        (f"/health/integrations/{integration.slug}/settings/", "/health/integrations/no-such/settings/"),
        (f"/stewardship/subjects/{subject.slug}/versions/new/", "/stewardship/subjects/no-such/versions/new/"),
        ("/health/probes/999999/edit/", "/health/probes/999998/edit/"),
    ]:
        assert client.get(existing).status_code == client.get(missing).status_code == 403, existing
    # With the permission, a missing object is still a 404.
    assert client_as("architect").get("/health/integrations/no-such/probes/add/").status_code == 404


def test_postgresql_connections_run_without_jit(require_postgres):
    """JIT compiled the KPIs' workflow-scope queries for 5 s each (a 70 ms query, costed far
    higher by the planner); the application's connections turn it off."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
