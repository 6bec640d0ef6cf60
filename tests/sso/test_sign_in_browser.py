"""Single sign-on end to end: Chromium on our login page, the real provider's sign-in and
consent pages, back here signed in with the roles and team the provider's groups map to."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore

from catalog.models import TeamMember
from controlplane.models import AuditEntry
from tests.factories import TeamFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _sign_in_at_provider(page, login):
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "whatever-the-provider-checks")
    page.click("button[type=submit]")
    page.wait_for_selector("button[type=submit]")  # the consent page
    page.click("button[type=submit]")


def test_sign_in_with_the_provider_maps_groups_to_role_and_team(sso_on, live_server, page):
    TeamFactory(slug="billing", name="Billing")
    page.goto(f"{live_server.url}/login/")
    button = page.get_by_role("button", name="Sign in with Northbridge ID")
    assert button.is_visible()
    authorization = []
    page.on("request", lambda r: authorization.append(r.url) if r.url.startswith(sso_on.issuer + "/auth?") else None)
    button.click()
    assert page.url.startswith(sso_on.issuer)  # on the provider's own page now
    query = parse_qs(urlsplit(authorization[0]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["nonce"][0] and query["state"][0]
    _sign_in_at_provider(page, "fiona")
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("button", name="Sign out Fiona Hale").is_visible()

    fiona = get_user_model().objects.get(sso_identity__subject="fiona")
    assert [g.name for g in fiona.groups.all()] == ["Finance"]
    assert fiona.email == "fiona.finance@northbridge.example" and fiona.get_full_name() == "Fiona Hale"
    assert not fiona.has_usable_password()
    assert TeamMember.objects.filter(user=fiona, team__slug="billing", external_ref="sso").exists()
    assert {"sso.user_created", "sso.roles_applied", "team.member_added"} <= set(
        AuditEntry.objects.filter(actor=fiona).values_list("action", flat=True))
    # The Finance role works the exception queues: the page opens for her.
    response = page.goto(f"{live_server.url}/exceptions/")
    assert response.status == 200


def _session(page, live_server):
    key = next(c["value"] for c in page.context.cookies(live_server.url) if c["name"] == "sessionid")
    return SessionStore(session_key=key)


def _tamper(page, live_server, change):
    session = _session(page, live_server)
    session["oidc_states"] = change(session["oidc_states"])
    session.save()


def _forge_state(states):
    (entry,) = states.values()
    return {"forged-by-an-attacker": entry}


def _forge_nonce(states):
    return {state: {**entry, "nonce": "not-the-nonce-the-provider-signed"} for state, entry in states.items()}


def _drop_verifier(states):
    return {state: {**entry, "code_verifier": None} for state, entry in states.items()}


def test_a_tampered_state_or_nonce_or_a_missing_pkce_verifier_is_refused(sso_on, live_server, page):
    """Each of the three binds the provider's answer to this browser's request: an unknown
    state (forged, replayed, another browser's), an ID token whose nonce is not the one we
    sent, and a code exchanged without the PKCE verifier (the provider refuses it). Each
    ends on our login page with a message, nobody signed in, no account made."""
    for tamper in (_forge_state, _forge_nonce, _drop_verifier):
        page.context.clear_cookies()
        page.goto(f"{live_server.url}/oidc/authenticate/")  # now on the provider's page
        _tamper(page, live_server, tamper)
        _sign_in_at_provider(page, "fiona")
        page.wait_for_url(f"{live_server.url}/login/", timeout=15000)
        assert page.get_by_text("Signing in with Northbridge ID did not succeed").is_visible(), tamper.__name__
        page.goto(f"{live_server.url}/")
        assert "/login/" in page.url, tamper.__name__
        assert not get_user_model().objects.filter(sso_identity__subject="fiona").exists(), tamper.__name__
