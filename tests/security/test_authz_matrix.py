"""Walks every route of the URL configuration x every method its view answers x every
role, and compares each outcome with the one table in ``authz_matrix.py``.

One database setup and one test: all mismatches are collected and reported together.
Each request runs inside a savepoint that is rolled back, so a DELETE or an approval in
one cell cannot change what the next cell sees.
"""

import copy
import datetime
import time

import pytest
from django.contrib import admin
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django.views.generic.edit import ProcessFormView

from catalog.models import BackstageImport, TeamMember
from catalog.services import create_derivation, create_stage
from controlplane import roles
from controlplane.services import create_service_account, revoke_service_token
from health.models import Flip, MaintenanceWindow, Notification, NotificationChannel
from kpis.definitions import KPIS
from tests.exceptions.factories import BusinessExceptionFactory, QueueFactory, RoutingRuleFactory
from tests.factories import (
    ApiFactory,
    DomainFactory,
    EntityFactory,
    IntegrationFactory,
    SlaFactory,
    SystemFactory,
    TeamFactory,
    WorkflowFactory,
)
from tests.health.factories import ProbeFactory
from tests.stewardship.factories import SorFactory, SubjectFactory, VersionFactory
from traces.services import set_mapping

from . import authz_matrix as M

CANDIDATE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


# --- walking the URL configuration ------------------------------------------------------

def walk(resolver=None, namespace=""):
    """Yield ``(name, pattern)`` for every URL pattern; ``name`` is ``ns:name`` (unnamed
    patterns inside a namespace come out as ``ns:None``)."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from walk(entry, ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield name, entry


def our_routes():
    """Route name -> its first URLPattern (format-suffix twins share a name and a view),
    plus the list of unnamed patterns, which the matrix cannot address."""
    routes, unnamed = {}, []
    for name, pattern in walk():
        if (name or "").startswith("admin:"):
            continue  # the admin is checked as one group
        if name is None or name.endswith(":None"):
            unnamed.append(str(pattern.pattern))
            continue
        if "format" in pattern.pattern.regex.groupindex:
            continue
        routes.setdefault(name, pattern)
    return routes, unnamed


def declared_methods(pattern):
    """Methods the view answers, from the view itself; None for function views (probed)."""
    callback = pattern.callback
    actions = getattr(callback, "actions", None)  # DRF ViewSet routes
    if actions:
        return {method.upper() for method in actions} & set(CANDIDATE_METHODS)
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is not None:
        return {m.upper() for m in view_class.http_method_names if m.upper() in CANDIDATE_METHODS and hasattr(view_class, m)}
    return None


def is_form_put_alias(pattern):
    # Django's ProcessFormView.put just calls post(): such a PUT is checked against POST.
    view_class = getattr(pattern.callback, "view_class", None)
    return view_class is not None and getattr(view_class, "put", None) is ProcessFormView.put


# --- objects behind the URL kwargs -----------------------------------------------------

class Objects:
    pass


def build_objects(cast):
    o = Objects()
    now = timezone.now()
    o.team = TeamFactory()
    o.member = TeamMember.objects.create(team=o.team, name="Member", email="member@example.com")
    o.domain = DomainFactory()
    o.system = SystemFactory(owner_team=o.team)
    o.api = ApiFactory(provider_system=o.system)
    o.entity = EntityFactory()
    o.workflow = WorkflowFactory()
    o.integration = IntegrationFactory(source_system=o.system, owner_team=o.team)
    o.sla = SlaFactory(integration=o.integration)
    o.probe = ProbeFactory(integration=o.integration)
    o.heartbeat = o.integration.health.heartbeat_token
    o.maintenance = MaintenanceWindow.objects.create(
        name="Patch night", integration=o.integration, starts_at=now, ends_at=now + datetime.timedelta(hours=1)
    )
    o.channel = NotificationChannel.objects.create(team=o.team, name="Ops mail", kind="email", target="ops@example.com")
    o.flip = Flip.objects.create(integration=o.integration, from_status="up", to_status="down", reason="probe", at=now)
    o.notification = Notification.objects.create(channel=o.channel, flip=o.flip, subject="Down")
    o.batch = BackstageImport.objects.create(created_by=cast["architect"])
    o.stage = create_stage(actor=None, workflow=o.workflow, position=1, name="Invoice ready", event_type="invoice_ready")
    o.derivation = create_derivation(actor=None, source_entity=o.entity, derived_entity=EntityFactory())
    o.subject = SubjectFactory(entity=o.entity)
    # Submitted by steward2, so the steward in the matrix reviews someone else's version.
    o.version = VersionFactory(subject=o.subject, status="in_review", author=cast["steward2"])
    # The steward's own draft, for the routes only its author may use (submit, withdraw, edit).
    o.draft = VersionFactory(subject=o.subject, status="draft", author=cast["steward"])
    o.sor = SorFactory(entity=o.entity, system=o.system, proposed_by=cast["steward2"])
    o.queue = QueueFactory(team=o.team)
    o.rule = RoutingRuleFactory(queue=o.queue)
    o.exception = BusinessExceptionFactory(integration=o.integration, queue=o.queue)
    o.kpi = next(iter(KPIS))
    o.mapping = set_mapping(actor=None, source="/authz", ce_type="authz.time.approved", event_type="time_approved",
                            integration=o.integration)
    return o


CATALOG_KINDS = ("team", "domain", "system", "api", "entity", "workflow", "integration")


def url_kwargs(name, params, o):
    """Real objects for every URL parameter, so a view gets as far as its object lookup."""
    ns, _, short = name.partition(":")
    stem = short.split("-")[0]
    values = {}
    for param in params:
        if param == "slug":
            if ns.startswith("catalog_intel") or stem in ("integration", "status", "config", "probe"):
                value = o.integration.slug
            elif stem == "subject" or short == "draft-create":
                value = o.subject.slug
            elif ns.startswith("stewardship") and stem == "entity":
                value = o.entity.slug
            elif stem in CATALOG_KINDS:
                value = getattr(o, stem).slug
            else:
                raise KeyError(f"no slug for {name}")
        elif param == "pk":
            if short.startswith("workflow-stage"):
                value = o.stage.pk
            elif short.startswith("team-member"):
                value = o.member.pk
            elif short.startswith("derivation"):
                value = o.derivation.pk
            elif "backstage" in short:
                value = o.batch.pk
            elif short in ("version-submit", "version-withdraw", "draft-edit"):
                value = o.draft.pk
            elif short.startswith(("version", "draft")):
                value = o.version.pk
            elif short.startswith("sor"):
                value = o.sor.pk
            elif short.startswith("exception") or ns == "exceptions" and short in ("detail", "comment", "replay", "action"):
                value = o.exception.pk
            elif short.startswith("queue"):
                value = o.queue.pk
            elif short.startswith("rule"):
                value = o.rule.pk
            elif short.startswith("mapping"):
                value = o.mapping.pk
            elif stem in ("probe", "maintenance", "channel", "notification", "flip"):
                value = getattr(o, stem).pk
            else:
                raise KeyError(f"no pk for {name}")
        elif param == "kind":
            value = "integration"
        elif param == "integration":
            value = o.integration.slug
        elif param == "token":
            value = o.heartbeat
        elif param == "action":  # a heartbeat ping: /start, /fail, /<exit status>, /log
            value = "start"
        elif param == "key":
            value = o.kpi
        elif param == "name":
            value = "acknowledge"
        elif param == "uidb64":  # a password-reset link (the token is then not a valid one)
            value = "MQ"
        elif param == "system":
            value = "netsuite"
        elif param == "resource":
            value = "invoices"
        elif param == "subject":  # the Schema Registry wire API
            value = o.subject.slug
        elif param == "version":
            value = "latest"
        elif param == "schema_id":
            value = "1"
        elif param == "namespace":
            value = "-"
        else:
            raise KeyError(f"no value for URL parameter {param!r} of {name}")
        values[param] = value
    return values


# --- clients per role ------------------------------------------------------------------

def build_clients(cast, superuser):
    _, revoked_key = create_service_account(name="revoked-service", role=roles.INTEGRATION)
    from controlplane.models import ServiceToken

    revoke_service_token(token=ServiceToken.objects.get(user__username="revoked-service"), actor=superuser)
    clients = {M.ANON: Client()}
    for role in (M.ARCH, M.STEW, M.FIN, M.EXEC):
        clients[role] = Client()
        clients[role].force_login(cast[role])
    clients[M.SUPER] = Client()
    clients[M.SUPER].force_login(superuser)
    clients[M.SVC] = Client(HTTP_AUTHORIZATION=f"Bearer {cast.token}")
    clients[M.REVOKED] = Client(HTTP_AUTHORIZATION=f"Bearer {revoked_key}")
    return clients


def call(client, method, path, *, api):
    """One request in a savepoint that is rolled back; returns (status, location, error)."""
    cookies = copy.deepcopy(client.cookies)  # logout would otherwise end the session
    kwargs = {}
    if method != "GET":
        if api:
            kwargs = {"data": "{}", "content_type": "application/json"}
        else:
            kwargs = {"data": "", "content_type": "application/x-www-form-urlencoded"}
    try:
        with transaction.atomic():
            response = client.generic(method, path, **kwargs)
            transaction.set_rollback(True)
    except Exception as exc:  # a view that raises is a 500 to the user
        return 500, "", repr(exc)
    finally:
        client.cookies = cookies
    return response.status_code, response.get("Location", ""), ""


def judge(role, allowed, status, location, *, api):
    """'' when the outcome matches the table, else what was expected."""
    if status >= 500:
        return "never 5xx"
    bounced = status == 302 and "/login/" in location
    if role in allowed:
        # A public route may send you to the login page (logout does); others may not.
        if status in (401, 403) or (not api and bounced and allowed != M.PUBLIC):
            return "allowed (not 401/403/login redirect)"
        return ""
    session_less = role == M.ANON or role in (M.SVC, M.REVOKED) and not api
    if api and role == M.REVOKED:
        return "" if status == 401 else "401 (revoked token)"
    if session_less:
        if api:
            return "" if status in (401, 403) else "401/403 (not signed in)"
        return "" if bounced else "302 to login"
    return "" if status == 403 else "403 (forbidden role)"


@pytest.fixture
def cheap_schema(monkeypatch):
    """The OpenAPI document takes seconds to generate and is the same for every caller;
    the matrix only needs to know who gets past the permission check, so hand it a stub
    document (tests/controlplane cover the real schema)."""
    from drf_spectacular.generators import SchemaGenerator

    monkeypatch.setattr(SchemaGenerator, "get_schema", lambda self, request=None, public=False: {"openapi": "3.0.3"})


@pytest.fixture
def quiet_refusals():
    """Every refused cell would log a warning with a formatted traceback (django.request,
    django.security); thousands of them cost seconds. Errors (5xx) still log."""
    import logging

    loggers = [logging.getLogger(name) for name in ("django.request", "django.security.csrf")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.mark.django_db
def test_every_route_method_and_role_matches_the_matrix(cast, superuser, cheap_schema, quiet_refusals, capsys):
    started, cpu_started = time.monotonic(), time.process_time()
    routes, unnamed = our_routes()
    problems = [f"unnamed route {p!r}: give it a name so the matrix can address it" for p in unnamed]

    problems += [f"{name}: route has no entry in authz_matrix.MATRIX" for name in sorted(set(routes) - set(M.MATRIX))]
    stale = set(M.MATRIX) - set(routes) - {"admin:*"}
    problems += [f"{name}: entry names a route that no longer exists" for name in sorted(stale)]

    o = build_objects(cast)
    clients = build_clients(cast, superuser)
    cells = 0
    timings = {}
    route_count = method_count = 0

    for name, pattern in sorted(routes.items()):
        entry = M.MATRIX.get(name)
        if entry is None:
            continue
        path = reverse(name, kwargs=url_kwargs(name, pattern.pattern.regex.groupindex, o))
        api = path.startswith(("/api/", "/registry/", "/otlp/")) or path in M.MACHINE_PATHS  # 401/403, never a login page
        methods = declared_methods(pattern)
        if methods is None:  # function view: ask it, as the superuser, which methods it answers
            methods = {m for m in CANDIDATE_METHODS if call(clients[M.SUPER], m, path, api=api)[0] != 405}
        route_count += 1
        route_started = time.monotonic()
        for method in sorted(methods):
            key = "POST" if method == "PUT" and is_form_put_alias(pattern) and "PUT" not in entry else method
            if key not in entry:
                problems.append(f"{name} {method}: the view answers it but the matrix has no entry")
                continue
            method_count += 1
            for role in M.ROLES:
                status, location, error = call(clients[role], method, path, api=api)
                cells += 1
                expected = judge(role, entry[key], status, location, api=api)
                if expected:
                    problems.append(f"{name} {method} {path} as {role}: got {status} {location} {error}, expected {expected}")
        timings[name] = time.monotonic() - route_started
        for method in set(entry) - methods - {"POST" if is_form_put_alias(pattern) else ""}:
            problems.append(f"{name} {method}: in the matrix but the view does not answer it")

    # The admin as one group: its index and every app's index page.
    admin_paths = [reverse("admin:index")]
    admin_paths += [reverse("admin:app_list", kwargs={"app_label": label})
                    for label in sorted({model._meta.app_label for model in admin.site._registry})]
    admin_allowed = M.MATRIX["admin:*"]["GET"]
    for path in admin_paths:
        for role in M.ROLES:
            status, location, error = call(clients[role], "GET", path, api=False)
            cells += 1
            if role in admin_allowed:
                expected = "" if status == 200 else "200"
            else:
                # Anonymous: the site's login page (middleware); signed in but not staff: the admin's.
                expected = "" if status == 302 and "/login/" in location else "302 to a login page"
            if expected:
                problems.append(f"admin {path} as {role}: got {status} {location} {error}, expected {expected}")

    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_started
    with capsys.disabled():
        print(
            f"\nauthorization matrix: {route_count} routes, {method_count} route-methods x {len(M.ROLES)} roles"
            f" + {len(admin_paths)} admin pages x {len(M.ROLES)} roles = {cells} cells in {elapsed:.1f}s"
            f" ({cpu:.1f}s CPU in this process)"
        )
        slowest = sorted(timings.items(), key=lambda item: -item[1])[:5]
        print("slowest routes: " + ", ".join(f"{name} {seconds:.2f}s" for name, seconds in slowest))
    assert not problems, f"{len(problems)} mismatches:\n" + "\n".join(problems)


def test_matrix_and_url_configuration_name_the_same_routes():
    """The completeness half on its own (no requests, no database): quick feedback when
    a route is added or removed without touching the table."""
    routes, unnamed = our_routes()
    assert not unnamed
    assert set(routes) - set(M.MATRIX) == set(), "routes without an entry in authz_matrix.MATRIX"
    assert set(M.MATRIX) - set(routes) - {"admin:*"} == set(), "entries for routes that no longer exist"
    assert all(set(entry) <= set(CANDIDATE_METHODS) and entry for entry in M.MATRIX.values())


@pytest.mark.parametrize(
    ("role", "allowed", "status", "location", "api", "verdict"),
    [
        (M.FIN, M.ARCHITECTS, 200, "", False, "403 (forbidden role)"),  # a hole: finance got in
        (M.FIN, M.ARCHITECTS, 403, "", False, ""),
        (M.ARCH, M.ARCHITECTS, 500, "", False, "never 5xx"),
        (M.ARCH, M.ARCHITECTS, 400, "", True, ""),  # a validation error is "got in"
        (M.ARCH, M.ARCHITECTS, 302, "/login/?next=/x/", False, "allowed (not 401/403/login redirect)"),
        (M.ANON, M.READ_HTML, 200, "", False, "302 to login"),
        (M.ANON, M.READ_HTML, 302, "/login/?next=/x/", False, ""),
        (M.ANON, M.READ_API, 401, "", True, ""),
        (M.SVC, M.READ_HTML, 302, "/login/?next=/x/", False, ""),  # tokens mean nothing to pages
        (M.REVOKED, M.READ_API, 403, "", True, "401 (revoked token)"),
        (M.REVOKED, M.READ_API, 401, "", True, ""),
        (M.ANON, M.PUBLIC, 302, "/login/", False, ""),  # logout sends everyone to the login page
    ],
)
def test_judge_tells_holes_from_expected_refusals(role, allowed, status, location, api, verdict):
    assert judge(role, allowed, status, location, api=api) == verdict


# --- service-token scopes ---------------------------------------------------------------

def _machine_write_routes():
    """Routes where a token may do more than read (from the matrix itself)."""
    names = set()
    for name, entry in M.MATRIX.items():
        for method, allowed in entry.items():
            if method != "GET" and M.SVC in allowed:
                names.add(name)
    return names


def test_every_machine_write_is_scoped_or_exempt():
    listed = set(M.SCOPED_WRITES) | set(M.SCOPE_EXEMPT)
    missing = sorted(_machine_write_routes() - listed)
    assert not missing, f"machine write routes without a scope rule in authz_matrix.SCOPED_WRITES: {missing}"
    assert not (set(M.SCOPED_WRITES) & set(M.SCOPE_EXEMPT))


@pytest.mark.django_db
def test_every_machine_write_is_refused_outside_the_tokens_scope(cast, quiet_refusals):
    import json

    o = build_objects(cast)
    other = IntegrationFactory()
    _, inside = create_service_account(name="scoped-in", role=roles.INTEGRATION, integrations=[o.integration.slug])
    _, outside = create_service_account(name="scoped-out", role=roles.INTEGRATION, integrations=[other.slug])
    routes, _ = our_routes()
    problems = []
    for name, body in sorted(M.SCOPED_WRITES.items()):
        path = reverse(name, kwargs=url_kwargs(name, routes[name].pattern.regex.groupindex, o))
        text = json.dumps(body or {}).replace("{integration}", o.integration.slug).replace(
            "{entity}", o.entity.slug).replace("{now}", timezone.now().isoformat())
        for key, want_allowed in ((inside, True), (outside, False)):
            client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
            with transaction.atomic():
                response = client.post(path, data=text,
                                       content_type=M.SCOPED_WRITE_CONTENT_TYPES.get(name, "application/json"))
                transaction.set_rollback(True)
            code = response.json().get("error", {}).get("code") if response.status_code >= 400 else ""
            if want_allowed and response.status_code >= 400:
                problems.append(f"{name}: in-scope token got {response.status_code} {code}")
            if not want_allowed and (response.status_code != 403 or code != "out_of_scope"):
                problems.append(f"{name}: out-of-scope token got {response.status_code} {code}, expected 403 out_of_scope")
    assert not problems, "\n".join(problems)
