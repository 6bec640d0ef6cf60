"""Emails to the teams owning integrations that a schema version affects."""

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from .models import SchemaVersion
from .selectors import affected_integrations

SUBJECTS = {
    "submitted": "[schema review] {subject}: a new version is in review",
    "published": "[schema published] {subject} v{number} is approved",
}


def notify_consumers(*, version_id, event) -> int:
    """Send one email per team (to the team address); returns the number of emails sent."""
    version = SchemaVersion.objects.select_related("subject", "author").filter(pk=version_id).first()
    if version is None or event not in SUBJECTS:
        return 0
    by_team = {}
    for integration in affected_integrations(version.subject):
        team = integration.owner_team
        if team.email:
            by_team.setdefault(team.email, (team, []))[1].append(integration)
    base = getattr(settings, "STEWARDSHIP_BASE_URL", "").rstrip("/")
    link = base + reverse("stewardship:version-detail", kwargs={"pk": version.pk})
    report = version.compat_report or {}
    breaking = [f for f in report.get("findings", []) if not f.get("compatible", True)]
    sent = 0
    for email, (team, integrations) in sorted(by_team.items()):
        lines = [
            f"Hello {team.name},",
            "",
            f"Schema subject: {version.subject.name}",
            f"Status: {version.get_status_display()}" + (f" (version {version.number})" if version.number else ""),
            f"Compatibility: {'compatible' if report.get('compatible', True) else 'BREAKING'}"
            f" ({len(breaking)} breaking finding(s))",
            "",
            "Your integrations that use it:",
            *[f"  - {i.name} ({i.source_system.name} -> {i.target_system.name})" for i in integrations],
        ]
        if breaking:
            lines += ["", "Breaking findings:", *[f"  - {f.get('type')} at {f.get('path')}" for f in breaking[:20]]]
        lines += ["", f"Review: {link}"]
        send_mail(
            SUBJECTS[event].format(subject=version.subject.name, number=version.number),
            "\n".join(lines),
            None,
            [email],
        )
        sent += 1
    return sent
