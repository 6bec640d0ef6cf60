"""One write path (DESIGN.md): a domain model is written only by its own app's services
(services.py, services/, and the helper modules listed in tests/architecture.py), by
migrations, demo loaders and tests. The checker reads the source with ``ast``."""

import pytest

from tests.architecture import (
    ALLOWED,
    APPS,
    ROOT,
    SERVICE_HELPERS,
    write_calls_in,
    write_violations,
    write_violations_in,
)


def test_no_domain_write_outside_the_services():
    found = write_violations()
    assert not found, "writes outside the services:\n" + "\n".join(str(v) for v in found)


def test_every_allowlist_entry_is_needed_and_says_why():
    """An entry that matches no write any more is a hole waiting for one: drop it."""
    for path, reason in SERVICE_HELPERS.items():
        assert (ROOT / path).exists(), f"{path} is listed but gone: drop it from the list"
        assert len(reason) > 20, f"{path}: give the reason"
        assert write_calls_in(path), f"{path} writes nothing: drop it from SERVICE_HELPERS"
    for (path, model), reason in ALLOWED.items():
        assert (ROOT / path).exists(), f"{path} is allowlisted but gone: drop it from the list"
        assert len(reason) > 20, f"{path}: give the reason"
        assert any(model in ("*", m) for _line, _call, m, _app in write_calls_in(path)), (
            f"{path} no longer writes {model}: drop it from ALLOWED")


BAD_VIEW = '''
from django.db import connection
from catalog.models import System
from health.models import Probe

def retire(request, pk):
    system = System.objects.get(pk=pk)
    system.lifecycle = "retired"
    system.save(update_fields=["lifecycle"])
    System.objects.filter(pk=pk).update(lifecycle="retired")
    Probe.objects.filter(integration__source_system=system).delete()
    Probe.objects.bulk_create([])
    Probe.objects.get_or_create(name="x")
    queryset = System.objects.all()
    queryset.update(name="x")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_system SET lifecycle = 'retired'")
    sql = "delete from health_probe"
    with connection.cursor() as cursor:
        cursor.execute(sql)
'''


def test_the_checker_finds_each_kind_of_direct_write():
    found = write_violations_in(BAD_VIEW, "catalog/views.py")
    assert [(v.line, v.call, v.model, v.app) for v in found] == [
        (9, ".save()", "?", "catalog"),
        (10, ".update()", "System", "catalog"),
        (11, ".delete()", "Probe", "health"),
        (12, ".bulk_create()", "Probe", "health"),
        (13, ".get_or_create()", "Probe", "health"),
        (15, ".update()", "?", "catalog"),
        (17, "raw SQL UPDATE", "?", "catalog"),
        (20, "raw SQL DELETE", "?", "catalog"),
    ]


def test_services_may_write_their_own_app_but_not_another():
    own = "from .models import System\n\ndef retire(system):\n    System.objects.filter(pk=1).update(lifecycle='x')\n"
    assert write_violations_in(own, "catalog/services.py") == []
    other = "from health.models import Probe\n\ndef f():\n    Probe.objects.filter(pk=1).delete()\n"
    [violation] = write_violations_in(other, "catalog/services.py")
    assert (violation.model, violation.app) == ("Probe", "health")
    assert "outside health's services" in str(violation)


@pytest.mark.parametrize("source", [
    "def f(data, extra):\n    data.update(extra)\n",                      # dict.update
    "def f(form):\n    obj = form.save(commit=False)\n",                  # builds, writes nothing
    "from . import services\n\ndef f(obj, user):\n    services.delete(obj, actor=user)\n",  # the service
    "from django.core.cache import cache\n\ndef f():\n    cache.delete('k')\n",
    "from django.contrib.auth.models import Group\n\ndef f():\n    Group.objects.get_or_create(name='x')\n",
    "def f(cursor):\n    cursor.execute('SELECT 1')\n",
])
def test_the_checker_leaves_non_writes_alone(source):
    assert write_violations_in(source, "catalog/views.py") == []


def test_demo_loaders_migrations_and_tests_are_exempt():
    for path in ("catalog/demo.py", "catalog/migrations/0002_x.py"):
        assert write_violations_in(BAD_VIEW, path) == []


# --- the API: DRF's default hooks write around the services -------------------------------

API_WRITE_HOOKS = (  # (mixin, the hook that writes, the action that calls it, the verbs that reach it)
    ("CreateModelMixin", "perform_create", "create", {"post"}),
    ("UpdateModelMixin", "perform_update", "update", {"put", "patch"}),
    ("DestroyModelMixin", "perform_destroy", "destroy", {"delete"}),
)


def api_write_problems(view_classes) -> list[str]:
    """Views whose create/update/destroy would run DRF's own ``serializer.save()`` or
    ``instance.delete()`` instead of a service."""
    from rest_framework import mixins

    problems = []
    for cls in view_classes:
        verbs = set(getattr(cls, "http_method_names", ()))
        for mixin_name, hook, action, reaching in API_WRITE_HOOKS:
            mixin = getattr(mixins, mixin_name)
            if not (issubclass(cls, mixin) and verbs & reaching):
                continue
            if getattr(cls, hook) is getattr(mixin, hook) and getattr(cls, action) is getattr(mixin, action):
                problems.append(f"{cls.__module__}.{cls.__name__}: {hook} is DRF's own")
    return problems


def project_api_views():
    from django.urls import get_resolver

    found = []

    def walk(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns)
                continue
            cls = getattr(pattern.callback, "cls", None)
            if cls is not None and cls.__module__.split(".")[0] in APPS and cls not in found:
                found.append(cls)

    walk(get_resolver().url_patterns)
    return found


def test_every_api_write_calls_a_service():
    views = project_api_views()
    assert len(views) > 20  # the walk found the API
    problems = api_write_problems(views)
    assert not problems, "\n".join(problems)


def test_the_api_check_finds_drf_default_writes():
    from rest_framework import viewsets

    from catalog.models import System

    class Plain(viewsets.ModelViewSet):
        queryset = System.objects.all()

    class NoEdit(viewsets.ModelViewSet):
        queryset = System.objects.all()
        http_method_names = ["get", "delete"]

        def perform_destroy(self, instance):
            pass

    assert api_write_problems([Plain, NoEdit]) == [
        f"{__name__}.Plain: perform_create is DRF's own",
        f"{__name__}.Plain: perform_update is DRF's own",
        f"{__name__}.Plain: perform_destroy is DRF's own",
    ]
