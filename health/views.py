"""Health pages: the status board, one integration's health, SLA attainment."""

import datetime as dt
import hashlib

from django.conf import settings
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.generic import TemplateView

from catalog.models import Integration, Sla, Workflow
from controlplane.views_mixins import RolePermissionMixin

from . import maintenance
from .choices import STATUS_ORDER, WINDOWS, Granularity, Status
from .filtersets import IntegrationHealthFilterSet
from .models import Flip, MaintenanceWindow, Rollup, SyncRun
from .sla import attainment, downtime_seconds, figures, sla_rows

_RANK = {s: i for i, s in enumerate(STATUS_ORDER)}


class BoardView(RolePermissionMixin, TemplateView):
    """Every integration as a tile, grouped by workflow, coloured by status. The tiles
    re-fetch themselves (htmx polling) and only they are swapped.

    Each poll sends the version of the board it shows (``v``); when nothing on it changed
    the answer is 204, which htmx leaves alone. With 10,000 tiles that spares rendering
    and swapping the whole board every few seconds when, most of the time, nothing moved."""

    permission_required = "health.view_healthconfig"
    template_name = "health/board.html"

    def get_template_names(self):
        if self.request.headers.get("HX-Request"):
            return ["health/_board.html"]
        return [self.template_name]

    def _filterset(self):
        base = Integration.objects.select_related("health", "owner_team").prefetch_related(
            Prefetch("workflows", queryset=Workflow.objects.only("id", "name", "slug"))
        ).order_by("name")
        filterset = IntegrationHealthFilterSet(self._filter_params(), queryset=base, request=self.request)
        return filterset, (filterset.qs.distinct() if filterset.is_valid() else base.none())

    def _filter_params(self):
        params = self.request.GET.copy()
        params.pop("v", None)
        return params

    def _version(self, queryset, maintenance_state) -> str:
        """What the tiles show, hashed: a few narrow columns, not the rendered page."""
        covers_all, in_maint = maintenance_state
        rows = queryset.order_by().values_list(
            "id", "name", "updated_at", "owner_team__name", "workflows__id", "health__status", "health__status_reason"
        )
        digest = hashlib.sha1(repr((sorted(rows), covers_all, sorted(in_maint))).encode(), usedforsecurity=False)
        return digest.hexdigest()[:16]

    def get(self, request, *args, **kwargs):
        self.filterset, self.queryset = self._filterset()
        self.now = timezone.now()
        self.maintenance_state = maintenance.active_integration_ids(self.now)
        self.version = self._version(self.queryset, self.maintenance_state)
        if request.headers.get("HX-Request") and request.GET.get("v") == self.version:
            return HttpResponse(status=204)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset, integrations, now = self.filterset, list(self.queryset), self.now
        covers_all, in_maint = self.maintenance_state
        groups, counts = {}, {s.value: 0 for s in STATUS_ORDER}
        for integration in integrations:
            health = getattr(integration, "health", None)
            integration.health_status = health.status if health else Status.UNKNOWN
            integration.health_reason = health.status_reason if health else "No probe or runs configured."
            integration.in_maintenance = covers_all or integration.pk in in_maint
            counts[integration.health_status] = counts.get(integration.health_status, 0) + 1
            workflows = list(integration.workflows.all()) or [None]
            for workflow in workflows:
                key = (workflow.name, workflow.slug) if workflow else ("No workflow", "")
                groups.setdefault(key, []).append(integration)
        ordered = []
        for (name, slug), items in sorted(groups.items(), key=lambda kv: (kv[0][1] == "", kv[0][0])):
            items.sort(key=lambda i: (_RANK.get(i.health_status, 99), i.name))
            worst = items[0].health_status if items else Status.UNKNOWN
            ordered.append({"name": name, "slug": slug, "integrations": items, "worst": worst})
        context.update(refresh_seconds=getattr(settings, "HEALTH_BOARD_REFRESH_SECONDS", 10), filter=filterset, groups=ordered, counts=counts, total=len(integrations), now=now,
                       version=self.version, board_query=self._filter_params().urlencode(),
                       statuses=STATUS_ORDER, maintenance_now=[w for w in maintenance.windows_for() if maintenance.window_active(w, now)])
        return context


def _series(integration, granularity, since):
    rows = Rollup.objects.filter(integration=integration, granularity=granularity, period_start__gte=since).order_by("period_start")
    points = []
    for r in rows:
        uptime = round(100.0 * r.checks_ok / r.checks, 3) if r.checks else (
            round(100.0 * (r.runs - r.runs_failed) / r.runs, 3) if r.runs else None)
        points.append({"t": r.period_start.isoformat(), "uptime": uptime,
                       "p95": round(r.latency_p95_ms, 1) if r.latency_p95_ms is not None else None,
                       "avg": round(r.latency_avg_ms, 1) if r.latency_avg_ms is not None else None})
    return points


class IntegrationHealthView(RolePermissionMixin, TemplateView):
    permission_required = "health.view_healthconfig"
    template_name = "health/integration.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        integration = get_object_or_404(Integration.objects.select_related("owner_team", "health"), slug=kwargs["slug"])
        now = timezone.now()
        health = getattr(integration, "health", None)
        sla = Sla.objects.filter(integration=integration).first()
        windows = []
        for key in WINDOWS:
            figs = figures(key, integration_ids=[integration.pk], now=now).get(integration.pk)
            windows.append({"key": key, "figures": figs or {}, "attainment": attainment(sla, figs) if sla else {},
                            "downtime_seconds": downtime_seconds(integration.pk, key, now)})
        charts = {
            "24h": _series(integration, Granularity.HOUR, now - dt.timedelta(hours=24)),
            "7d": _series(integration, Granularity.HOUR, now - dt.timedelta(days=7)),
            "30d": _series(integration, Granularity.DAY, now - dt.timedelta(days=30)),
        }
        mw = [w for w in MaintenanceWindow.objects.filter(integration__isnull=True) | MaintenanceWindow.objects.filter(integration=integration)]
        context.update(
            integration=integration, health=health, sla=sla, windows=windows, charts_json=charts,
            flips=Flip.objects.filter(integration=integration)[:25],
            runs=SyncRun.objects.filter(integration=integration)[:25],
            probes=integration.probes.all(),
            maintenance=[(w, maintenance.window_active(w, now)) for w in mw],
            breaches=integration.sla_breaches.all()[:10],
            can_manage=self.request.user.has_perm("health.change_healthconfig"),
        )
        return context


class SlaAttainmentView(RolePermissionMixin, TemplateView):
    """Which integrations meet or miss each target, with totals by team and workflow."""

    permission_required = "health.view_rollup"
    template_name = "health/sla.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        window = self.request.GET.get("window", "30d")
        if window not in WINDOWS:
            window = "30d"
        slas = Sla.objects.select_related("integration", "integration__owner_team").prefetch_related(
            "integration__workflows").order_by("integration__name")
        rows, by_team, by_workflow = [], {}, {}
        for sla, figs, result in sla_rows(window, slas=slas):
            missing = [m for m, item in result.items() if item["met"] is False]
            no_data = all(item["met"] is None for item in result.values()) if result else True
            verdict = "missing" if missing else ("no_data" if no_data else "meeting")
            rows.append({"sla": sla, "integration": sla.integration, "figures": figs or {}, "result": result,
                         "verdict": verdict})
            team = sla.integration.owner_team
            by_team.setdefault(team.name, {"meeting": 0, "missing": 0, "no_data": 0})[verdict] += 1
            for workflow in sla.integration.workflows.all() or []:
                by_workflow.setdefault(workflow.name, {"meeting": 0, "missing": 0, "no_data": 0})[verdict] += 1
        context.update(window=window, windows=list(WINDOWS), rows=rows, by_team=sorted(by_team.items()),
                       by_workflow=sorted(by_workflow.items()),
                       totals={v: sum(1 for r in rows if r["verdict"] == v) for v in ("meeting", "missing", "no_data")})
        return context


