"""Reads behind workflow stages: the items waiting at each step of a workflow (the stuck
list), why one is stuck, and the stages panel of one business key's trace.

An item waiting before step N is an event of step N-1 (same workflow) with no event of
step N for the same business key before the moment looked at (``as_of``). It is *late*
once step N's maximum latency has passed since that event. For the step "invoice posted"
after "invoice ready" that is exactly the invoice-ready backlog KPI (kpis/definitions.py):
ready, not posted before the period's end; the tests hold the two to the same figure.
"""

import datetime as dt
from urllib.parse import urlencode

from django.db.models import Case, DateTimeField, Exists, F, IntegerField, OuterRef, Q, Value, When
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils import timezone

from exceptions.models import BusinessException
from health.choices import RunStatus
from health.models import SyncRun
from kpis.models import BusinessEvent

from .models import WorkflowStage


def trace_url(key: str) -> str:
    """The trace page of one business key (the traces app renders it)."""
    return reverse("traces:trace") + "?" + urlencode({"key": key})


def stages_panel(key: str, user, items) -> dict | None:
    """The trace's stages panel (registered by the traces app): left out when no workflow
    with declared stages carries ``key``."""
    context = stages_for_key(key, user, items)
    return context if context["workflows"] else None


def stuck_list_url(workflow_slug: str, event_type: str, as_of=None) -> str:
    """The stuck list of every item waiting for the step ``event_type`` of a workflow (what a
    backlog KPI counts), as of ``as_of``; "" when the workflow declares no such step."""
    stage = WorkflowStage.objects.filter(workflow__slug=workflow_slug, event_type=event_type, position__gt=1).first()
    if stage is None:
        return ""
    params = {"state": "waiting", "stage": stage.pk}
    if as_of is not None:
        params["as_of"] = as_of.isoformat()
    return reverse("catalog:workflow-stuck", kwargs={"slug": workflow_slug}) + "?" + urlencode(params)


def ordered_stages(workflow) -> list[WorkflowStage]:
    return list(workflow.stages.select_related("integration").order_by("position"))


def _steps(stages):
    """(previous stage, stage) for every step after the first."""
    return list(zip(stages, stages[1:], strict=False))


def waiting_items(workflow, *, as_of=None, stages=None):
    """Events of ``workflow`` still waiting for their next step at ``as_of``, annotated with
    ``stage_id`` (the step they wait for) and ``due_at`` (NULL when the step has no deadline).
    One query; the caller filters (late: ``due_at__lt=as_of``), orders and paginates it."""
    as_of = as_of or timezone.now()
    stages = ordered_stages(workflow) if stages is None else stages
    steps = _steps(stages)
    if not steps:
        # No step after the first: nothing can wait. An empty row set that still compiles to
        # SQL (``none()`` does not), with the same columns, so filters and sums work on it.
        return BusinessEvent.objects.filter(pk__isnull=True).annotate(
            stage_id=Value(None, output_field=IntegerField()), due_at=Value(None, output_field=DateTimeField()))
    waiting = Q()
    stage_of, due_of = [], []
    for previous, stage in steps:
        done = BusinessEvent.objects.filter(
            type=stage.event_type, correlation_key=OuterRef("correlation_key"), occurred_at__lt=as_of
        )
        waiting |= Q(type=previous.event_type) & ~Q(Exists(done))
        stage_of.append(When(type=previous.event_type, then=Value(stage.pk)))
        if stage.max_latency_hours:
            due_of.append(When(type=previous.event_type,
                               then=F("occurred_at") + Value(dt.timedelta(hours=stage.max_latency_hours))))
    qs = BusinessEvent.objects.filter(waiting, workflow=workflow, occurred_at__lt=as_of).annotate(
        stage_id=Case(*stage_of, output_field=IntegerField()),
        due_at=Case(*due_of, default=Value(None), output_field=DateTimeField()) if due_of
        else Cast(Value(None), DateTimeField()),
    )
    return qs.select_related("integration")


def late_items(workflow, *, as_of=None, stages=None):
    as_of = as_of or timezone.now()
    return waiting_items(workflow, as_of=as_of, stages=stages).filter(due_at__lt=as_of)


# --- why an item is stuck ---------------------------------------------------------------------

def _open_exceptions_for(keys, user):
    keys = [k for k in keys if k]
    if not keys:
        return {}
    qs = BusinessException.objects.open().filter(
        Q(correlation_id__in=keys) | Q(invoice_number__in=keys) | Q(project_code__in=keys)
    )
    if user is not None:
        qs = qs.visible_to(user)
    found = {}
    for exc in qs.select_related("integration").order_by("first_seen", "pk"):
        for key in {exc.correlation_id, exc.invoice_number, exc.project_code} & set(keys):
            found.setdefault(key, exc)
    return found


def _failed_runs(integration_ids, since):
    """The latest failed run per integration since ``since``."""
    if not integration_ids or since is None:
        return {}
    runs = SyncRun.objects.filter(integration_id__in=integration_ids, status=RunStatus.FAILED, finished_at__gte=since)
    latest = {}
    for run in runs.order_by("finished_at"):
        latest[run.integration_id] = run
    return latest


def _hours(delta: dt.timedelta) -> float:
    return round(delta.total_seconds() / 3600, 1)


def _reason(*, stage, waiting_since, due_at, now, exception, run):
    """The one reason shown for a stuck step, the most telling first: an open exception
    holds it, the integration expected to carry it failed, or the event is past due."""
    if exception is not None:
        return {"kind": "exception", "text": f"Open exception: {exception.error_code} on {exception.integration.name}",
                "exception": exception, "url": exception.get_absolute_url()}
    if run is not None and run.finished_at >= waiting_since:
        return {"kind": "failed_run", "run": run,
                "text": f"{run.integration.name} failed its run at {run.finished_at:%Y-%m-%d %H:%M} UTC"}
    if due_at is not None and due_at < now:
        return {"kind": "overdue", "text": f"No “{stage.name}” event, {_hours(now - due_at)} h past its deadline"}
    return None


def explain(items, stages_by_id, *, user, now):
    """Attach ``stage``, ``reason``, ``hours_late`` and ``trace_url`` to a page of waiting
    items (two queries for the whole page)."""
    items = list(items)
    exceptions = _open_exceptions_for({i.correlation_key for i in items}, user)
    carriers = {stages_by_id[i.stage_id].integration_id for i in items} - {None}
    runs = _failed_runs(carriers, min((i.occurred_at for i in items), default=None))
    for item in items:
        stage = stages_by_id[item.stage_id]
        item.stage = stage
        item.hours_late = _hours(now - item.due_at) if item.due_at and item.due_at < now else None
        item.trace_url = trace_url(item.correlation_key)
        item.reason = _reason(stage=stage, waiting_since=item.occurred_at, due_at=item.due_at, now=now,
                              exception=exceptions.get(item.correlation_key), run=runs.get(stage.integration_id))
    return items


# --- the stages panel of a trace --------------------------------------------------------------

# status -> (label, badge class of static/css/app.css)
STATUS_LABELS = {
    "done": ("Done", "ok"), "late": ("Done late", "warn"), "missing": ("Missing", "bad"),
    "waiting": ("Waiting", "muted"), "not_reached": ("Not reached", "muted"),
}


def stages_for_key(key: str, user, items=None, *, now=None) -> dict:
    """The context of the stages panel on the trace of ``key``: for each workflow whose
    events carry the key and that declares stages, every step done / late / missing
    (or waiting, not reached), the time spent reaching it, and the stuck step with its
    reason. ``items`` (the trace's timeline) is not needed: the panel reads the events."""
    now = now or timezone.now()
    events = list(BusinessEvent.objects.filter(correlation_key=key, occurred_at__lte=now)
                  .exclude(workflow=None).order_by("occurred_at", "pk"))
    workflows = {}
    for event in events:
        workflows.setdefault(event.workflow_id, {}).setdefault(event.type, event)  # first of each type
    stages = WorkflowStage.objects.filter(workflow_id__in=workflows).select_related("workflow", "integration")
    by_workflow = {}
    for stage in stages.order_by("workflow__name", "position"):
        by_workflow.setdefault(stage.workflow, []).append(stage)
    exceptions = _open_exceptions_for([key], user)
    carriers = {s.integration_id for group in by_workflow.values() for s in group} - {None}
    runs = _failed_runs(carriers, events[0].occurred_at if events else None)
    panels = []
    for workflow, group in by_workflow.items():
        first = workflows.get(workflow.pk, {})
        rows, stuck, previous_at = [], None, None
        for index, stage in enumerate(group):
            event = first.get(stage.event_type)
            at = event.occurred_at if event else None
            due = (previous_at + dt.timedelta(hours=stage.max_latency_hours)
                   if index and previous_at and stage.max_latency_hours else None)
            if at is not None:
                status = "late" if due is not None and at > due else "done"
            elif index == 0 or previous_at is None:
                status = "not_reached"
            elif due is not None and now > due:
                status = "missing"
            else:
                status = "waiting"
            row = {"stage": stage, "status": status, "label": STATUS_LABELS[status][0],
                   "badge": STATUS_LABELS[status][1], "event": event, "at": at,
                   "due_at": due, "spent_hours": _hours(at - previous_at) if at and previous_at else None,
                   "waited_hours": _hours(now - previous_at) if at is None and previous_at else None}
            rows.append(row)
            if stuck is None and status in ("missing", "waiting") and index:
                reason = _reason(stage=stage, waiting_since=previous_at, due_at=due, now=now,
                                 exception=exceptions.get(key), run=runs.get(stage.integration_id))
                if reason is not None:
                    stuck = {**row, "reason": reason}
            if at is not None:
                previous_at = at
            elif index:
                previous_at = None  # later steps are not reached until this one is
        panels.append({"workflow": workflow, "stages": rows, "stuck": stuck})
    return {"key": key, "workflows": panels, "trace_url": trace_url(key)}
