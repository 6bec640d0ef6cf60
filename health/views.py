"""Health pages: the status board, one integration's health, SLA attainment."""

import datetime as dt
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from catalog.models import Integration, Sla
from controlplane.views_mixins import RolePermissionMixin

from . import maintenance
from .choices import STATUS_ORDER, WINDOWS, Granularity, Status
from .filtersets import IntegrationHealthFilterSet
from .models import Flip, HeartbeatPing, MaintenanceWindow, Rollup, SyncRun
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
        base = Integration.objects.order_by("name")
        filterset = IntegrationHealthFilterSet(self._filter_params(), queryset=base, request=self.request)
        return filterset, (filterset.qs.distinct() if filterset.is_valid() else base.none())

    def _filter_params(self):
        params = self.request.GET.copy()
        params.pop("v", None)
        return params

    def _rows(self, queryset):
        """What the tiles show, as plain tuples: at 10,000 tiles, model instances (and a
        workflow queryset per tile) cost more than the page itself."""
        tiles = list(queryset.order_by().values_list(
            "id", "name", "slug", "updated_at", "owner_team__name", "health__status", "health__status_reason"
        ))
        memberships = sorted(
            Integration.workflows.through.objects.filter(integration__in=queryset.order_by().values("id"))
            .values_list("integration_id", "workflow__name", "workflow__slug")
        )
        return tiles, memberships

    @staticmethod
    def _version(rows, maintenance_state) -> str:
        """The board's content, hashed: equal versions show the same tiles."""
        covers_all, in_maint = maintenance_state
        tiles, memberships = rows
        digest = hashlib.sha1(repr((sorted(tiles), memberships, covers_all, sorted(in_maint))).encode(),
                              usedforsecurity=False)
        return digest.hexdigest()[:16]

    def get(self, request, *args, **kwargs):
        self.filterset, queryset = self._filterset()
        self.now = timezone.now()
        self.maintenance_state = maintenance.active_integration_ids(self.now)
        self.rows = self._rows(queryset)
        self.version = self._version(self.rows, self.maintenance_state)
        if request.headers.get("HX-Request") and request.GET.get("v") == self.version:
            return HttpResponse(status=204)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        covers_all, in_maint = self.maintenance_state
        tiles, memberships = self.rows
        workflows_of = {}
        for integration_id, name, slug in memberships:
            workflows_of.setdefault(integration_id, []).append((name, slug))
        groups, counts = {}, {s.value: 0 for s in STATUS_ORDER}
        for pk, name, slug, _updated, team, status, reason in tiles:
            tile = Tile(name=name, slug=slug, team=team or "", status=status or Status.UNKNOWN,
                        reason=reason if status else "No probe or runs configured.",
                        in_maintenance=covers_all or pk in in_maint)
            counts[tile.status] = counts.get(tile.status, 0) + 1
            for key in workflows_of.get(pk) or [("No workflow", "")]:
                groups.setdefault(key, []).append(tile)
        ordered = []
        for (name, slug), items in sorted(groups.items(), key=lambda kv: (kv[0][1] == "", kv[0][0])):
            items.sort(key=lambda t: (_RANK.get(t.status, 99), t.name))
            ordered.append({"name": name, "slug": slug, "integrations": items, "worst": items[0].status})
        context.update(refresh_seconds=getattr(settings, "HEALTH_BOARD_REFRESH_SECONDS", 10), filter=self.filterset,
                       groups=ordered, counts=counts, total=len(tiles), now=self.now,
                       version=self.version, board_query=self._filter_params().urlencode(),
                       # one reverse() for the page, not one per tile
                       integration_url=reverse("health:integration", args=["-"])[:-2],
                       statuses=STATUS_ORDER, maintenance_now=[w for w in maintenance.windows_for()
                                                               if maintenance.window_active(w, self.now)])
        return context


@dataclass(slots=True)
class Tile:
    """One integration on the status board."""

    name: str
    slug: str
    team: str
    status: str
    reason: str
    in_maintenance: bool


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
            has_latency=any(p["p95"] is not None or p["avg"] is not None for points in charts.values() for p in points),
            flips=Flip.objects.filter(integration=integration)[:25],
            runs=SyncRun.objects.filter(integration=integration)[:25],
            pings=HeartbeatPing.objects.filter(integration=integration).select_related("run")[:25],
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


