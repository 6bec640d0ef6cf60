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
