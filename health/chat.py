"""Chat messages people read where they work: a Slack Block Kit message and a Microsoft
Teams Adaptive Card (for a Workflows "post to a channel when a webhook request is
received" flow; the Office 365 connector MessageCard format is retired).

Both carry the business context of the notification: the integration and its team, what
changed and why, the amount at risk on its open exceptions per currency (never added
across currencies), and a link to the integration's page. They are built from the
notification's stored payload only, so a retry sends the same message.

Slack's documented limits are enforced here, not left to Slack to refuse: at most 50
blocks, section text 3,000 characters, a header 150, fields 10 of 2,000, button text 75,
a URL 3,000 (https://api.slack.com/reference/block-kit/blocks). The Adaptive Card uses
only elements of schema 1.0 (TextBlock, FactSet, Action.OpenUrl) and declares version
1.4, which Teams renders; tests validate it against the published Adaptive Card schema.
"""

from decimal import Decimal, InvalidOperation

SLACK_MAX_BLOCKS = 50
SLACK_SECTION_TEXT = 3000
SLACK_HEADER_TEXT = 150
SLACK_FIELDS = 10
SLACK_FIELD_TEXT = 2000
SLACK_BUTTON_TEXT = 75
SLACK_URL = 3000
SLACK_FALLBACK_TEXT = 3000

EMOJI = {"down": ":red_circle:", "late": ":large_orange_circle:", "degraded": ":large_yellow_circle:",
         "up": ":large_green_circle:", "breach_opened": ":warning:", "breach_closed": ":white_check_mark:"}
TEAMS_COLOR = {"down": "attention", "late": "warning", "degraded": "warning", "up": "good",
               "breach_opened": "attention", "breach_closed": "good"}


def _cut(text: str, limit: int) -> str:
    text = str(text or "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _money(amount: str, currency: str) -> str:
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError):
        return f"{amount} {currency}"
    return f"{value:,.2f} {currency}"


def facts(notification) -> list[tuple[str, str]]:
    """(label, value) pairs both formats show, in reading order."""
    p = notification.payload
    rows = []
    if p.get("integration_name") or p.get("integration"):
        rows.append(("Integration", p.get("integration_name") or p["integration"]))
    if p.get("team"):
        rows.append(("Owning team", p["team"]))
    if p.get("event") == "flip":
        rows.append(("Status", f"{p.get('from', '?')} → {p.get('to', '?')}"))
    elif p.get("metric"):
        value, target = p.get("value"), p.get("target")
        rows.append(("SLA", f"{p.get('metric_name') or p['metric']}: {value if value is not None else 'no data'} "
                            f"(target {target}, {p.get('window', '')})".strip()))
    at_risk = p.get("amount_at_risk") or {}
    rows.append(("Amount at risk", ", ".join(_money(a, c) for c, a in sorted(at_risk.items())) or "none open"))
    if p.get("reason"):
        rows.append(("Why", p["reason"]))
    return rows


def _key(notification) -> str:
    p = notification.payload
    return p.get("to") if p.get("event") == "flip" else p.get("event", "")


def slack_message(notification) -> dict:
    """A Block Kit message for a Slack incoming webhook; ``text`` is the notification
    fallback (push notifications and screen readers)."""
    p = notification.payload
    title = _cut(f"{EMOJI.get(_key(notification), ':bell:')} {notification.subject}", SLACK_HEADER_TEXT)
    rows = facts(notification)
    fields = [{"type": "mrkdwn", "text": _cut(f"*{label}*\n{value}", SLACK_FIELD_TEXT)}
              for label, value in rows if label != "Why"][:SLACK_FIELDS]
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}},
        {"type": "section", "fields": fields},
    ]
    reason = dict(rows).get("Why")
    if reason:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(reason, SLACK_SECTION_TEXT)}})
    if p.get("url") and len(p["url"]) <= SLACK_URL:
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": _cut("Open in the control plane", SLACK_BUTTON_TEXT)},
            "url": p["url"], "action_id": "open-integration",
        }]})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(
        f"Integration control plane · {p.get('at', '')}".strip(" ·"), SLACK_SECTION_TEXT)}]})
    text = "\n".join([notification.subject, *(f"{label}: {value}" for label, value in rows)])
    return {"text": _cut(text, SLACK_FALLBACK_TEXT), "blocks": blocks[:SLACK_MAX_BLOCKS]}


def adaptive_card(notification) -> dict:
    p = notification.payload
    card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": notification.subject, "weight": "bolder", "size": "medium", "wrap": True,
             "color": TEAMS_COLOR.get(_key(notification), "default")},
            {"type": "FactSet", "facts": [{"title": label, "value": value} for label, value in facts(notification)]},
        ],
    }
    if p.get("url"):
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in the control plane", "url": p["url"]}]
    return card


def teams_message(notification) -> dict:
    """The envelope a Teams Workflows webhook accepts: a message with one Adaptive Card."""
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": adaptive_card(notification),
    }]}
