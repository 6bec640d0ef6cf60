from django.db import models


class EventType(models.TextChoices):
    CLOSED_WON = "closed_won", "Closed won"
    PROJECT_ACTIVATED = "project_activated", "Project activated"
    TIME_APPROVED = "time_approved", "Time approved"
    MILESTONE_COMPLETED = "milestone_completed", "Milestone completed"
    INVOICE_READY = "invoice_ready", "Invoice ready"
    INVOICE_POSTED = "invoice_posted", "Invoice posted"
    PAYMENT_RECEIVED = "payment_received", "Payment received"
    REVENUE_POSTED = "revenue_posted", "Revenue posted"
    CREDIT_NOTE_POSTED = "credit_note_posted", "Credit note posted"


# Event types whose amount is a credit: the only ones that may carry a negative amount.
CREDIT_TYPES = frozenset({EventType.CREDIT_NOTE_POSTED})


class ScopeType(models.TextChoices):
    ALL = "all", "Whole estate"
    WORKFLOW = "workflow", "Workflow"
    TEAM = "team", "Team"
    INTEGRATION = "integration", "Integration"


class Period(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week"
    MONTH = "month", "Month"


class Direction(models.TextChoices):
    HIGHER = "higher", "Higher is better"
    LOWER = "lower", "Lower is better"
