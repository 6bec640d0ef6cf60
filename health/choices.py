from django.db import models


class Status(models.TextChoices):
    UP = "up", "Up"
    DEGRADED = "degraded", "Degraded"
    DOWN = "down", "Down"
    LATE = "late", "Late"
    PAUSED = "paused", "Paused"
    MAINTENANCE = "maintenance", "Maintenance"
    UNKNOWN = "unknown", "Unknown"


# The colours of the board, worst first: the board sorts and the summary counts by this.
STATUS_ORDER = [Status.DOWN, Status.LATE, Status.DEGRADED, Status.UNKNOWN, Status.MAINTENANCE, Status.PAUSED, Status.UP]


class ProbeState(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    UP = "up", "Up"
    DOWN = "down", "Down"


class HttpMethod(models.TextChoices):
    GET = "GET", "GET"
    HEAD = "HEAD", "HEAD"
    POST = "POST", "POST"
    PUT = "PUT", "PUT"
    OPTIONS = "OPTIONS", "OPTIONS"


class RunStatus(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    PARTIAL = "partial", "Partial (some records failed)"


class PingKind(models.TextChoices):
    START = "start", "Started"
    SUCCESS = "success", "Success"
    FAIL = "fail", "Failed"
    LOG = "log", "Log"


class RunSource(models.TextChoices):
    API = "api", "API"
    HEARTBEAT = "heartbeat", "Heartbeat"


class Recurrence(models.TextChoices):
    ONCE = "once", "One-off"
    WEEKLY = "weekly", "Weekly"
    CRON = "cron", "Cron expression"


class ChannelKind(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Generic webhook (JSON, Standard Webhooks signature)"
    SLACK = "slack", "Slack (Block Kit message, incoming webhook)"
    TEAMS = "teams", "Microsoft Teams (Adaptive Card, Workflows webhook)"
    CHAT = "chat", "Other chat webhook (plain text)"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    RETRYING = "retrying", "Retrying"
    FAILED = "failed", "Failed"
    SUPPRESSED = "suppressed", "Suppressed"


class Granularity(models.TextChoices):
    HOUR = "h", "Hour"
    DAY = "d", "Day"


class SlaMetric(models.TextChoices):
    AVAILABILITY = "availability", "Availability"
    LATENCY = "p95_latency", "p95 latency"
    FRESHNESS = "freshness", "Freshness lag"
    EXCEPTION_RESOLUTION = "exception_resolution", "Exception resolution time"


WINDOWS = {"24h": 24, "7d": 24 * 7, "30d": 24 * 30}
