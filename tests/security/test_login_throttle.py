"""Repeated failed sign-ins lock the username out from that address for a while, on the
site's login page and on the admin's; success resets the count."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_cache(settings):
    # A cache of its own, so counts never leak between tests or into a shared Redis.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "login-throttle-tests"}}
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_LOCKOUT_SECONDS = 600
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 5
    from django.core.cache import cache

    cache.clear()


def _login(client, username, password, url=None):
    return client.post(url or reverse("login"), {"username": username, "password": password})


def test_lockout_after_limit_with_clear_message_then_even_right_password_refused(client, cast):
    for _ in range(3):
        response = _login(client, "finance", "wrong")
        assert response.status_code == 200 and "correct username and password" in response.content.decode()
    response = _login(client, "finance", "pw-finance")
    assert response.status_code == 429
    assert "Too many failed sign-in attempts. Try again in 10 minutes." in response.content.decode()
    assert response["Retry-After"] == "600"
    assert "_auth_user_id" not in client.session


def test_other_users_and_addresses_are_not_locked(client, cast):
    for _ in range(3):
        _login(client, "finance", "wrong")
    assert _login(client, "steward", "pw-steward").status_code == 302
    from django.test import Client

    elsewhere = Client(REMOTE_ADDR="10.0.0.9")
    assert _login(elsewhere, "finance", "pw-finance").status_code == 302


def test_success_resets_the_count(client, cast):
    for _ in range(2):
        _login(client, "finance", "wrong")
    assert _login(client, "finance", "pw-finance").status_code == 302
    client.post(reverse("logout"))
    for _ in range(2):
        _login(client, "finance", "wrong")
    assert _login(client, "finance", "pw-finance").status_code == 302  # 2 + 2 failures, never 3 in a row


def test_cool_off_expires(client, cast, settings):
    import time

    settings.LOGIN_LOCKOUT_SECONDS = 1
    for _ in range(3):
        _login(client, "finance", "wrong")
    assert _login(client, "finance", "pw-finance").status_code == 429
    time.sleep(1.2)
    assert _login(client, "finance", "pw-finance").status_code == 302


def test_admin_login_is_throttled_too(client, superuser):
    url = reverse("admin:login")
    for _ in range(3):
        assert _login(client, "admin", "wrong", url).status_code == 200
    response = _login(client, "admin", "pw-admin", url)
    assert response.status_code == 200  # the admin shows the form error
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_one_address_trying_many_usernames_is_locked_out_there_only(client, cast):
    """Password spraying: one guess each against many usernames, from one address."""
    for name in ["u1", "u2", "u3", "u4", "finance"]:
        assert _login(client, name, "Winter2026!").status_code == 200
    response = _login(client, "steward", "pw-steward")  # right password, fresh username
    assert response.status_code == 429
    from django.test import Client

    assert _login(Client(REMOTE_ADDR="10.0.0.9"), "steward", "pw-steward").status_code == 302


def test_a_full_width_look_alike_of_a_locked_name_does_not_sign_in(client, cast):
    """The login form NFKC-normalises ``ｆｉｎａｎｃｅ`` to ``finance`` before authenticating,
    so the lock-out must count it as the same name, whichever spelling the failures used."""
    for spelling in ("finance", "ＦＩＮＡＮＣＥ", " finance "):
        assert _login(client, spelling, "wrong").status_code == 200
    for spelling in ("ｆｉｎａｎｃｅ", "Finance", "finance"):
        response = _login(client, spelling, "pw-finance")
        assert response.status_code == 429, spelling
        assert "_auth_user_id" not in client.session
    from controlplane.login_throttle import normalised_username

    assert normalised_username("ｆｉｎａｎｃｅ") == normalised_username("FINANCE") == "finance"


def _default_cache_without_redis(settings):
    from controlplane.settings import base

    if base.REDIS_URL:
        pytest.skip("REDIS_URL is set: the shared cache is Redis")
    # What the demo and production get without Redis (the test settings use local memory).
    assert base.CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    settings.CACHES = base.CACHES
    # The step `migrate` runs after migrating (the test database was made under the test
    # settings' local-memory cache, so the table is not there yet).
    from django.db import connection

    from controlplane.apps import _create_cache_table

    _create_cache_table(sender=None)
    assert base.CACHES["default"]["LOCATION"] in connection.introspection.table_names()
    return base.CACHES["default"]


def test_without_redis_the_counts_live_where_every_web_process_sees_them(settings, client, cast):
    """Two web workers each build their own cache object from the settings; failures
    counted through one are seen through the other (local memory would give each worker
    a private count, so two workers doubled the allowance)."""
    config = _default_cache_without_redis(settings)
    from django.core.cache import caches
    from django.core.cache.backends.db import DatabaseCache
    from django.test import RequestFactory

    from controlplane import login_throttle

    other_worker = DatabaseCache(config["LOCATION"], {})
    request = RequestFactory().post("/login/")
    for _ in range(3):
        _login(client, "finance", "wrong")
    assert other_worker.get(login_throttle._key("finance", request)) == 3
    caches["default"].clear()
    assert other_worker.get(login_throttle._key("finance", request)) is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_processes_share_the_lockout(settings, require_postgres, cast, client):
    """A real second process (as the demo's second gunicorn worker) reads the count the
    first one stored, through the default cache of the base settings."""
    import os
    import subprocess
    import sys

    from django.db import connection

    _default_cache_without_redis(settings)
    for _ in range(3):
        _login(client, "finance", "wrong")
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    code = ("import django; django.setup(); from django.test import RequestFactory; "
            "from controlplane import login_throttle as t; "
            "print(t.is_locked('ｆｉｎａｎｃｅ', RequestFactory().post('/login/')))")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "controlplane.settings.base", "DEBUG": "1",
           "DATABASE_URL": url, "LOGIN_FAILURE_LIMIT": "3", "PYTHONPATH": os.getcwd()}
    env.pop("REDIS_URL", None)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True"
