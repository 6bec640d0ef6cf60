"""Emails to the teams owning integrations that a schema version affects."""

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from .models import SchemaVersion
from .selectors import affected_integrations

SUBJECTS = {
    "submitted": "[schema review] {name} is in review",
    "published": "[schema published] {name} is approved",
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
    if event == "published":
        # Approval also reaches every channel of these teams (publish_event): an address that
        # is one of its email channels gets that message, not a second one from here.
        from health.choices import ChannelKind
        from health.models import NotificationChannel

        channelled = {(team_id, target.strip().lower()) for team_id, target in NotificationChannel.objects.filter(
            team_id__in=[team.pk for team, _ in by_team.values()], kind=ChannelKind.EMAIL, enabled=True,
        ).values_list("team_id", "target")}
        by_team = {email: entry for email, entry in by_team.items()
                   if (entry[0].pk, email.strip().lower()) not in channelled}
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
            f"Version: {version.display_name}",
            f"Compatibility: {'compatible' if report.get('compatible', True) else 'BREAKING'}"
            f" ({len(breaking)} breaking finding(s))",
            "",
            "Your integrations that use it:",
            *[f"  - {i.name} ({i.source_system.name} -> {i.target_system.name})" for i in integrations],
        ]
        if breaking:
            lines += ["", "Breaking findings:",
                      *[f"  - {f.get('type')}: {f.get('message') or f.get('path')}" for f in breaking[:20]]]
        lines += ["", f"Review: {link}"]
        send_mail(
            SUBJECTS[event].format(name=version.display_name),
            "\n".join(lines),
            None,
            [email],
        )
        sent += 1
    return sent


# --- events on the teams' channels (health notification channels) ---------------------------

EVENTS = ("submitted", "approved", "rejected", "withdrawn")


def version_url(version) -> str:
    return getattr(settings, "STEWARDSHIP_BASE_URL", "").rstrip("/") + reverse(
        "stewardship:version-detail", kwargs={"pk": version.pk})


def event_body(version, event) -> dict:
    """The stable JSON body of a schema version event (what webhook subscribers verify and
    parse): type, version id, subject, number, state, findings, url."""
    return {
        "type": f"schema_version.{event}",
        "version_id": version.pk,
        "subject": version.subject.slug,
        "subject_name": version.subject.name,
        "display_name": version.display_name,
        "number": version.number,
        "state": version.status,
        "findings": [
            {k: f.get(k) for k in ("type", "path", "compatible", "direction", "against_version", "message")}
            for f in version.findings[:100]
        ],
        "url": version_url(version),
    }


def publish_event(version, event, integrations=None) -> int:
    """Queue the event to each team owning an integration the version affects, in the
    caller's transaction (the health notifier signs and delivers it through the outbox).
    Approval reaches every channel of those teams (email, chat, webhook) with the breaking
    findings in plain words and the link; the other events go to their webhooks only.
    Returns the number of notifications queued. ``integrations``: the version's
    ``affected_integrations``, when the caller has read them."""
    from health.choices import ChannelKind
    from health.notify import notify_team

    if event not in EVENTS:
        raise ValueError(f"Unknown schema version event {event!r}.")
    if integrations is None:
        integrations = affected_integrations(version.subject)
    teams = {i.owner_team_id: i.owner_team for i in integrations}
    if not teams:
        return 0  # nobody to tell: the body is not built
    body = event_body(version, event)
    breaking = [f for f in body["findings"] if not f["compatible"]]
    body["summary"] = [f"{len(breaking)} breaking change(s)" if breaking else "No breaking change.",
                       *[f"- {f['type']}: {f['message']}" for f in breaking[:20]]]
    subject = f"[schema {event}] {version.display_name}"
    kinds = None if event == "approved" else [ChannelKind.WEBHOOK]
    queued = 0
    for team in teams.values():
        queued += len(notify_team(team, event=f"schema.{event}", subject=subject, payload=body, kinds=kinds))
    return queued
