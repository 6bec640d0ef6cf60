"""Scorecard checks contributed by health (autodiscovered by the catalog intelligence)."""


def _without_health_check():
    from django.db.models import Exists, OuterRef

    from catalog.models import Integration

    from .models import HealthConfig, Probe, SyncRun

    return (
        Integration.objects.exclude(lifecycle="retired")
        .annotate(
            has_probe=Exists(Probe.objects.filter(integration=OuterRef("pk"), enabled=True)),
            has_schedule=Exists(HealthConfig.objects.filter(integration=OuterRef("pk"), expected_period_seconds__isnull=False)),
            has_runs=Exists(SyncRun.objects.filter(integration=OuterRef("pk"))),
        )
        .filter(has_probe=False, has_schedule=False, has_runs=False)
    )


CHECKS = [
    dict(
        key="integration-without-health-check",
        name="Integration without a health check",
        severity="medium",
        fix="Add a probe (Health > Probes) or have the job report runs / ping its heartbeat URL with an expected period.",
        applies_to="integration",
        failing=_without_health_check,
    )
]
