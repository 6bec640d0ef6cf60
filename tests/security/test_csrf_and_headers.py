"""Browser-side protections: every POST form carries a CSRF token and a POST without one
is refused; every response carries the Content-Security-Policy."""

from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from . import authz_matrix as M
from .test_authz_matrix import build_objects, declared_methods, our_routes, url_kwargs

pytestmark = pytest.mark.django_db


class _Forms(HTMLParser):
    """Collects POST forms and whether each holds a csrfmiddlewaretoken input."""

    def __init__(self):
        super().__init__()
        self.forms, self._current = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self._current = {"action": attrs.get("action", ""), "token": False}
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and attrs.get("name") == "csrfmiddlewaretoken":
            self._current["token"] = bool(attrs.get("value"))

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def _html_routes(o):
    routes, _ = our_routes()
    for name, pattern in sorted(routes.items()):
        path = reverse(name, kwargs=url_kwargs(name, pattern.pattern.regex.groupindex, o))
        if not path.startswith("/api/"):
            yield name, pattern, path


def test_every_post_form_on_every_page_has_a_csrf_token(cast, superuser):
    o = build_objects(cast)
    client = Client()
    client.force_login(superuser)
    missing, pages, forms = [], 0, 0
    for name, pattern, path in _html_routes(o):
        methods = declared_methods(pattern) or {"GET"}
        if "GET" not in methods or "GET" not in M.MATRIX.get(name, {}):
            continue
        response = client.get(path)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        pages += 1
        parser = _Forms()
        parser.feed(response.content.decode())
        forms += len(parser.forms)
        missing += [f"{name} ({path}): form to {f['action'] or 'itself'}" for f in parser.forms if not f["token"]]
    print(f"\nCSRF: {forms} POST forms on {pages} pages checked")
    assert pages > 40 and forms > 20
    assert not missing, "POST forms without a CSRF token:\n" + "\n".join(missing)


# Machine endpoints outside /api/ that authenticate each request themselves.
CSRF_EXEMPT = {"demo:receive": "the demo ledger: signed replays (HMAC), no session, off outside the demo",
               "otlp-traces": "OTLP exporters: a service token in Authorization; a session is refused with 403"}


def test_post_without_csrf_token_is_refused_on_every_html_route(cast, superuser):
    o = build_objects(cast)
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    client.get(reverse("home"))  # the CSRF cookie is set: only the token in the request is missing
    assert "csrftoken" in client.cookies
    accepted = []
    checked = 0
    for name, _pattern, path in _html_routes(o):
        if "POST" not in M.MATRIX.get(name, {}) or name in CSRF_EXEMPT:
            continue
        checked += 1
        response = client.post(path, {})
        if response.status_code != 403:
            accepted.append(f"{name} {path}: {response.status_code}")
    assert checked > 40
    # Login and logout included: a cross-site login or logout is refused as well.
    assert not accepted, "POST accepted without a CSRF token:\n" + "\n".join(accepted)


def test_pages_carry_a_strict_content_security_policy(client_as):
    response = client_as("finance").get(reverse("home"))
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-eval" not in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert "Content-Security-Policy" in Client().get(reverse("login"))  # anonymous pages too
    api = client_as("finance").get("/api/v1/catalog/teams/")
    assert "default-src 'self'" in api["Content-Security-Policy"]


def test_only_the_api_docs_pages_allow_inline_script(client_as):
    policy = client_as("finance").get(reverse("api-docs"))["Content-Security-Policy"]
    assert "script-src 'self' 'unsafe-inline'" in policy and "unsafe-eval" not in policy
    assert "unsafe-inline" not in client_as("finance").get(reverse("kpis:home"))["Content-Security-Policy"]


def test_report_only_switch(client_as, settings):
    settings.CSP_REPORT_ONLY = True
    response = client_as("finance").get(reverse("home"))
    assert "Content-Security-Policy-Report-Only" in response and "Content-Security-Policy" not in response


def test_production_settings_enforce_csp_and_secure_cookies():
    import importlib
    import os

    os.environ.setdefault("SECRET_KEY", "x" * 50)
    production = importlib.import_module("controlplane.settings.production")
    assert production.CSP_REPORT_ONLY is False
    assert "controlplane.csp.ContentSecurityPolicyMiddleware" in production.MIDDLEWARE
    assert production.SESSION_COOKIE_SECURE and production.CSRF_COOKIE_SECURE
    assert settings.CSP_POLICY["script-src"] == ["'self'"]
