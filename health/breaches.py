"""SLA breaches and the hand-off to the exception queues.

A breach is opened once per (integration, metric) while the target is missed and closed
when it is met again. ``hand_off`` is the one place that talks to the exceptions app: a
breach opens (deduplicated by fingerprint) an exception in the integration's ops queue,
and recovery auto-resolves it.
"""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from controlplane import audit

from .models import SlaBreach

logger = logging.getLogger(__name__)


def fingerprint_for(integration, metric) -> str:
    return f"health:sla:{integration.slug}:{metric}"


def hand_off(breach, *, opened: bool) -> bool:
    """Open (or auto-resolve) the matching system exception. Returns whether the
    exception queue took it (a failure there is logged and retried on the next evaluation)."""
    from exceptions.services import auto_resolve, open_system_exception

    try:
        if opened:
            open_system_exception(
                integration=breach.integration, error_code=f"sla_{breach.metric}",
                message=f"SLA {breach.get_metric_display()} target missed over {breach.window}: "
                        f"{breach.value:.2f} vs target {breach.target:g}" if breach.value is not None else "SLA target missed",
                severity="high", fingerprint=breach.fingerprint,
                details={"metric": breach.metric, "value": breach.value, "target": breach.target, "window": breach.window},
                actor=None,
            )
        else:
            auto_resolve(fingerprint=breach.fingerprint, note="SLA target met again.", actor=None)
    except Exception:  # the queue being unhappy must not stop SLA evaluation
        logger.exception("hand-off of breach %s to the exception queue failed", breach.pk)
        return False
    return True


def exception_resolution_hours(integration_ids, *, window="30d", now=None) -> dict:
    """Mean exception resolution time (hours) per integration over the window."""
    import datetime as dt

    from exceptions.selectors import resolution_hours_by_integration

    from .choices import WINDOWS

    now = now or timezone.now()
    return resolution_hours_by_integration(
        integration_ids=integration_ids, since=now - dt.timedelta(hours=WINDOWS[window]), until=now
    )


def evaluate_breaches(window=None, now=None):
    """Open and close breaches for every SLA. Each SLA is judged over its own
    measurement window unless ``window`` is given. Returns (opened, closed)."""
    from catalog.models import Sla

    from .notify import notify_breach
    from .sla import sla_rows

    now = now or timezone.now()
    slas = list(Sla.objects.select_related("integration"))
    by_window = {}
    for sla in slas:
        by_window.setdefault(window or sla.measurement_window or "30d", []).append(sla)
    open_breaches = {(b.integration_id, b.metric): b for b in SlaBreach.objects.filter(closed_at__isnull=True).select_related("integration")}
    opened = closed = 0
    for window_key, group in by_window.items():
        for sla, _figs, result in sla_rows(window_key, slas=group, now=now):
            for metric, item in result.items():
                key = (sla.integration_id, metric)
                if item["met"] is False and key not in open_breaches:
                    with transaction.atomic():
                        try:
                            with transaction.atomic():
                                breach = SlaBreach.objects.create(
                                    integration=sla.integration, metric=metric, window=window_key, value=item["value"],
                                    target=item["target"], opened_at=now, fingerprint=fingerprint_for(sla.integration, metric),
                                )
                        except IntegrityError:
                            continue  # another evaluator opened it first
                        audit.record(actor=None, action="sla_breach.opened", obj=breach,
                                     after={"value": item["value"], "target": item["target"]})
                        notify_breach(breach, "breach_opened")
                    if hand_off(breach, opened=True):
                        SlaBreach.objects.filter(pk=breach.pk).update(handed_off=True)
                    opened += 1
                elif item["met"] is True and key in open_breaches:
                    breach = open_breaches[key]
                    with transaction.atomic():
                        if not SlaBreach.objects.filter(pk=breach.pk, closed_at__isnull=True).update(closed_at=now, value=item["value"]):
                            continue
                        breach.closed_at = now
                        audit.record(actor=None, action="sla_breach.closed", obj=breach, after={"value": item["value"]})
                        notify_breach(breach, "breach_closed")
                    hand_off(breach, opened=False)
                    closed += 1
    return opened, closed
