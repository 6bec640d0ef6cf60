"""Without a browser: the login page with and without single sign-on, break-glass local
sign-in, password reset for local accounts, and the group mapping on repeated sign-ins."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from catalog.models import TeamMember
from controlplane.models import AuditEntry
from sso import services
from tests.conftest import make_user
from tests.exceptions.factories import QueueFactory
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_reset_allowance():
    # The allowance lives in the shared cache (Redis in CI), which outlives a test.
    from django.core.cache import cache

    cache.delete("password-reset:127.0.0.1")

ISSUER = "https://id.northbridge.example"


@pytest.fixture
def sso_settings(settings):
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "Northbridge ID"
    settings.OIDC_RP_CLIENT_ID = "control-plane"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{ISSUER}/auth"
    settings.OIDC_GROUP_ROLES = {"cp-finance": ["Finance"], "cp-exec": ["Executive"]}
    settings.OIDC_GROUP_TEAMS = {"billing-team": ["billing"], "payroll-team": ["payroll"]}
    settings.SSO_LOCAL_LOGIN = "superusers"
    return settings


def test_without_sso_the_login_page_has_only_the_local_form_and_the_oidc_urls_are_404(client):
    page = client.get("/login/").content.decode()
    assert "Sign in with" not in page and 'name="password"' in page
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


def test_with_sso_the_login_page_offers_the_provider_and_redirects_with_pkce(client, sso_settings):
    page = client.get("/login/?next=/kpis/").content.decode()
    assert "Sign in with Northbridge ID" in page
    response = client.get("/oidc/authenticate/?next=/kpis/")
    assert response.status_code == 302 and response["Location"].startswith(f"{ISSUER}/auth?")
    assert "code_challenge_method=S256" in response["Location"] and "nonce=" in response["Location"]


def test_break_glass_only_superusers_sign_in_locally_while_sso_is_on(client, sso_settings):
    make_user("finance")
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root")
    refused = client.post("/login/", {"username": "finance", "password": "pw-finance"})
    assert refused.status_code == 200 and "This account signs in with Northbridge ID." in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.post("/login/", {"username": "root", "password": "pw-root"}).status_code == 302
    sso_settings.SSO_LOCAL_LOGIN = "all"
    client.logout()
    assert client.post("/login/", {"username": "finance", "password": "pw-finance"}).status_code == 302


def test_password_reset_mails_local_accounts_only_and_answers_alike(client):
    make_user("finance")
    sso_user = services.sign_in_from_provider(issuer=ISSUER, claims={"sub": "s-1", "email": "sso@example.com"})
    answers = []
    for email in ("finance@example.com", "nobody@example.com", sso_user.email):
        response = client.post("/password-reset/", {"email": email})
        answers.append((response.status_code, response["Location"]))
    assert answers == [(302, "/password-reset/sent/")] * 3  # no account enumeration
    assert [m.to for m in mail.outbox] == [["finance@example.com"]]
    link = re.search(r"http://testserver(/password-reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "a-new-long-passphrase-2026",
                                                    "new_password2": "a-new-long-passphrase-2026"})
    assert done["Location"] == "/password-reset/done/"
    assert client.login(username="finance", password="a-new-long-passphrase-2026")
    assert "expired or was already used" in client.get(link, follow=True).content.decode()


def test_password_reset_is_throttled_per_address(client, settings):
    settings.PASSWORD_RESET_LIMIT_PER_ADDRESS = 2
    codes = [client.post("/password-reset/", {"email": f"x{i}@example.com"}).status_code for i in range(3)]
    assert codes == [302, 302, 429]


def test_groups_are_applied_at_every_sign_in_and_restricted_teams_are_left_to_their_leads(sso_settings):
    billing = TeamFactory(slug="billing", name="Billing")
    payroll = TeamFactory(slug="payroll", name="Payroll")
    QueueFactory(name="Payroll", slug="payroll", team=payroll, restricted=True)
    claims = {"sub": "u-7", "email": "ada@example.com", "given_name": "Ada", "family_name": "Byron",
              "groups": ["cp-finance", "billing-team", "payroll-team"]}
    ada = services.sign_in_from_provider(issuer=ISSUER, claims=claims)
    assert [g.name for g in ada.groups.all()] == ["Finance"] and ada.username == "ada"
    assert list(TeamMember.objects.filter(user=ada).values_list("team__slug", flat=True)) == ["billing"]
    assert AuditEntry.objects.filter(action="sso.team_skipped", object_id=str(payroll.pk)).exists()
    # A membership added by hand stays when the groups change; the mapped one goes.
    TeamMember.objects.filter(user=ada).delete()
    manual = TeamMember.objects.create(team=billing, user=ada, name="Ada Byron")
    again = services.sign_in_from_provider(issuer=ISSUER, claims={**claims, "groups": ["cp-exec"],
                                                                  "email": "ada.byron@example.com"})
    assert again.pk == ada.pk and again.email == "ada.byron@example.com"
    assert [g.name for g in again.groups.all()] == ["Executive"]
    assert list(TeamMember.objects.filter(user=ada)) == [manual]
    entry = AuditEntry.objects.filter(action="sso.roles_applied").latest("id")
    assert entry.before == {"roles": ["Finance"]} and entry.after == {"roles": ["Executive"]}


def test_a_claim_without_subject_is_refused_and_nothing_is_made(sso_settings):
    from controlplane.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        services.sign_in_from_provider(issuer=ISSUER, claims={"email": "x@example.com"})
    assert not get_user_model().objects.exists()


def test_an_identity_never_takes_over_a_local_account_with_the_same_name_or_email(sso_settings):
    local = make_user("ada")  # ada@example.com, with a password
    user = services.sign_in_from_provider(issuer=ISSUER, claims={"sub": "u-8", "email": "ada@example.com"})
    assert user.pk != local.pk and user.username == "ada-2" and not user.has_usable_password()
    local.refresh_from_db()
    assert local.has_usable_password() and not hasattr(local, "sso_identity")
    # The same subject at another provider is another person.
    other = services.sign_in_from_provider(issuer="https://other.example", claims={"sub": "u-8"})
    assert other.pk not in (user.pk, local.pk)
