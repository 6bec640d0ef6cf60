"""Health writes: probe/maintenance/channel management, pushed runs and heartbeats, and
the status engine (evaluate -> flip -> notify). One function per action."""

import datetime as dt
import uuid

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from controlplane import audit, statements
from controlplane import scope as token_scope
from controlplane.errors import Conflict, IdempotencyConflict, NotFound, ValidationFailed

from . import maintenance, secrets
from .choices import PingKind, ProbeState, Recurrence, RunSource, RunStatus, Status
from .conditions import ConditionError, parse_conditions
from .models import Flip, HealthConfig, MaintenanceWindow, NotificationChannel, Probe, SyncRun

# ---------------------------------------------------------------------------------------
# Configuration


def config_for(integration) -> HealthConfig:
    config, _ = HealthConfig.objects.get_or_create(integration=integration)
    return config


@transaction.atomic
def update_config(*, integration, actor, **changes) -> HealthConfig:
    config = config_for(integration)
    allowed = {"paused", "failure_threshold", "success_threshold", "expected_period_seconds", "grace_seconds"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"Cannot change {', '.join(sorted(unknown))}.")
    before = audit.snapshot(config, fields=list(changes))
    for key, value in changes.items():
        setattr(config, key, value)
    config.full_clean(exclude=["integration"])
    config.save(update_fields=[*changes, "updated_at"])
    audit.record(actor=actor, action="health_config.updated", obj=config, before=before, after=audit.snapshot(config, fields=list(changes)))
    if changes.keys() & {"paused", "failure_threshold", "expected_period_seconds", "grace_seconds"}:
        refresh_statuses([integration.pk])
    return config


def _clean_probe_fields(data, *, secret_headers=None, existing_headers=None):
    errors = {}
    if "conditions" in data:
        try:
            parse_conditions(data["conditions"])
        except ConditionError as exc:
            errors["conditions"] = [str(exc)]
    if "url" in data:
        from controlplane.outbound import check_url

        try:
            check_url(data["url"])
        except ValueError as exc:
            errors["url"] = [str(exc)]
    headers = dict(existing_headers or {}) if "headers" not in data else {}
    for name, value in (data.get("headers") or existing_headers or {}).items():
        if value == secrets.MASK and existing_headers and name in existing_headers:
            headers[name] = existing_headers[name]  # a masked value sent back unchanged
        else:
            if str(value).startswith(secrets.ENV) and not str(value)[len(secrets.ENV):].startswith(secrets.ENV_PREFIX):
                errors["headers"] = [
                    f"Header {name}: an environment reference must name a variable starting with "
                    f"{secrets.ENV_PREFIX} (env:{secrets.ENV_PREFIX}NAME)."
                ]
            headers[str(name)] = str(value)
    for name, value in (secret_headers or {}).items():
        headers[str(name)] = secrets.encrypt(str(value))
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], fields=errors)
    return headers


@transaction.atomic
def create_probe(*, integration, actor, url, name="default", method="GET", headers=None, secret_headers=None,
                 body="", timeout_ms=5000, interval_seconds=60, conditions="[STATUS] == 200", api=None, enabled=True) -> Probe:
    """Add a probe. ``secret_headers`` are encrypted at rest; ``headers`` values may be
    ``env:NAME`` references."""
    data = {"url": url, "conditions": conditions, "headers": headers or {}}
    stored_headers = _clean_probe_fields(data, secret_headers=secret_headers)
    config_for(integration)
    probe = Probe(
        integration=integration, api=api, name=name, url=url, method=method, headers=stored_headers, body=body,
        timeout_ms=timeout_ms, interval_seconds=interval_seconds, conditions=conditions, enabled=enabled,
        next_due_at=timezone.now(),
    )
    probe.full_clean(validate_unique=False)
    if Probe.objects.filter(integration=integration, name=name).exists():
        raise ValidationFailed(f"{integration} already has a probe named {name!r}.", fields={"name": ["Already used."]})
    probe.save()
    audit.record(actor=actor, action="probe.created", obj=probe, after=_probe_audit(probe))
    return probe


def _probe_audit(probe):
    data = audit.snapshot(probe, fields=["name", "url", "method", "timeout_ms", "interval_seconds", "conditions", "enabled"])
    data["headers"] = secrets.masked_headers(probe.headers)
    return data


@transaction.atomic
def update_probe(*, probe, actor, secret_headers=None, **changes) -> Probe:
    editable = {"name", "url", "method", "headers", "body", "timeout_ms", "interval_seconds", "conditions", "enabled", "api"}
    unknown = set(changes) - editable
    if unknown:
        raise ValidationFailed(f"Cannot change {', '.join(sorted(unknown))}.")
    probe = Probe.objects.select_for_update().get(pk=probe.pk)
    before = _probe_audit(probe)
    headers = _clean_probe_fields(changes, secret_headers=secret_headers, existing_headers=probe.headers)
    for key, value in changes.items():
        setattr(probe, key, value)
    probe.headers = headers
    fields = [*changes, "headers"]
    if "interval_seconds" in changes or changes.get("enabled"):
        probe.next_due_at = timezone.now()
        fields.append("next_due_at")
    probe.full_clean(validate_unique=False)
    probe.save(update_fields=sorted(set(fields)))
    audit.record(actor=actor, action="probe.updated", obj=probe, before=before, after=_probe_audit(probe))
    if "enabled" in changes:
        transaction.on_commit(lambda: refresh_statuses([probe.integration_id]))
    return probe


@transaction.atomic
def delete_probe(*, probe, actor):
    before = _probe_audit(probe)
    integration_id = probe.integration_id
    audit.record(actor=actor, action="probe.deleted", obj=probe, before=before)
    probe.delete()
    transaction.on_commit(lambda: refresh_statuses([integration_id]))


@transaction.atomic
def save_maintenance_window(*, actor, window=None, **fields) -> MaintenanceWindow:
    creating = window is None
    window = window or MaintenanceWindow()
    before = None if creating else audit.snapshot(window)
    for key, value in fields.items():
        setattr(window, key, value)
    errors = {}
    if window.recurrence == Recurrence.ONCE:
        if not (window.starts_at and window.ends_at):
            errors["ends_at"] = ["A one-off window needs a start and an end."]
        elif window.ends_at <= window.starts_at:
            errors["ends_at"] = ["The end must be after the start."]
    elif window.recurrence == Recurrence.WEEKLY:
        days = [d for d in window.weekdays.replace(" ", "").split(",") if d]
        if not days or any(not d.isdigit() or not 1 <= int(d) <= 7 for d in days):
            errors["weekdays"] = ["Give ISO weekdays 1 (Mon) to 7 (Sun), comma-separated."]
        if window.start_time is None:
            errors["start_time"] = ["A weekly window needs a start time."]
    else:
        try:
            maintenance.parse_cron(window.cron)
        except maintenance.CronError as exc:
            errors["cron"] = [str(exc)]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], fields=errors)
    window.full_clean()
    window.save()
    audit.record(actor=actor, action="maintenance.created" if creating else "maintenance.updated", obj=window,
                 before=before, after=audit.snapshot(window))
    ids = None if window.integration_id is None else [window.integration_id]
    transaction.on_commit(lambda: refresh_statuses(ids))
    return window


@transaction.atomic
def delete_maintenance_window(*, window, actor):
    audit.record(actor=actor, action="maintenance.deleted", obj=window, before=audit.snapshot(window))
    ids = None if window.integration_id is None else [window.integration_id]
    window.delete()
    transaction.on_commit(lambda: refresh_statuses(ids))


@transaction.atomic
def save_channel(*, actor, channel=None, **fields) -> NotificationChannel:
    from controlplane.outbound import check_url

    creating = channel is None
    channel = channel or NotificationChannel()
    before = None if creating else audit.snapshot(channel, fields=["name", "kind", "target", "enabled"])
    for key, value in fields.items():
        if key == "secret":
            if value and value != secrets.MASK:
                channel.secret = secrets.encrypt(value)
            continue
        setattr(channel, key, value)
    if channel.kind == "email":
        from django.core.validators import validate_email

        validate_email(channel.target)
    else:
        try:
            check_url(channel.target)
        except ValueError as exc:
            raise ValidationFailed(str(exc), fields={"target": [str(exc)]}) from None
    channel.full_clean(validate_unique=False)
    channel.save()
    audit.record(actor=actor, action="channel.created" if creating else "channel.updated", obj=channel, before=before,
                 after=audit.snapshot(channel, fields=["name", "kind", "target", "enabled"]))
    return channel


@transaction.atomic
def delete_channel(*, channel, actor):
    audit.record(actor=actor, action="channel.deleted", obj=channel,
                 before=audit.snapshot(channel, fields=["name", "kind", "target", "enabled"]))
    channel.delete()


@transaction.atomic
def rotate_secrets(*, actor=None) -> tuple[int, int]:
    """Re-encrypt stored probe header secrets and webhook secrets with the current
    SECRET_KEY. -> (probes, channels) changed. Raises ValidationFailed naming every value
    no configured key can read; nothing is half-rotated (the transaction rolls back)."""
    from cryptography.fernet import InvalidToken

    unreadable = []
    probes = channels = 0
    for probe in Probe.objects.select_for_update().only("pk", "headers"):
        headers, changed = dict(probe.headers or {}), False
        for name, value in headers.items():
            try:
                rotated = secrets.rotate(str(value))
            except InvalidToken:
                unreadable.append(f"probe {probe.pk} header {name}")
                continue
            if rotated is not None:
                headers[name], changed = rotated, True
        if changed:
            Probe.objects.filter(pk=probe.pk).update(headers=headers)
            probes += 1
    for channel in NotificationChannel.objects.select_for_update().exclude(secret="").only("pk", "secret"):
        try:
            rotated = secrets.rotate(channel.secret)
        except InvalidToken:
            unreadable.append(f"notification channel {channel.pk}")
            continue
        if rotated is not None:
            NotificationChannel.objects.filter(pk=channel.pk).update(secret=rotated)
            channels += 1
    if unreadable:
        raise ValidationFailed(
            "No configured key (SECRET_KEY or SECRET_KEY_FALLBACKS) can read: " + ", ".join(unreadable),
            code="unreadable_secrets",
        )
    audit.record(actor=actor, action="health.secrets_rotated", after={"probes": probes, "channels": channels})
    return probes, channels


# ---------------------------------------------------------------------------------------
# Push: runs and heartbeats


def _skew_tolerance():
    return dt.timedelta(seconds=getattr(settings, "HEALTH_CLOCK_SKEW_TOLERANCE_SECONDS", 300))


def record_run(*, integration, actor, status, finished_at=None, started_at=None, run_key=None, records_processed=0,
               records_failed=0, lag_seconds=None, source=RunSource.API, scope=None, business_keys=()):
    """Store one reported run; returns (run, created). The same ``run_key`` again returns
    the stored run (idempotent) unless the report differs, which is a 409
    ``idempotency_conflict`` naming the stored run. ``scope`` (a service token) must speak
    for ``integration`` (else 403).

    Clocks disagree: a finish in the future is clamped to the receive time and the skew
    kept on the run; a finish before the start is refused. ``business_keys`` (the
    invoice numbers, project codes... the run carried) make it part of their traces.

    On PostgreSQL the run, the config's figures and the audit row are one statement
    (atomic by itself); the status is evaluated after it, in its own transaction, only
    when the run can change it (as for heartbeats)."""
    token_scope.require(scope, [integration], what="report runs")
    business_keys = _clean_business_keys(business_keys)
    now = timezone.now()
    if status not in RunStatus.values:
        raise ValidationFailed(f"status must be one of {', '.join(RunStatus.values)}.", fields={"status": ["Invalid."]})
    finished_at = finished_at or now
    if started_at and finished_at < started_at:
        raise ValidationFailed("finished_at is before started_at.", fields={"finished_at": ["Must not be before started_at."]})
    skew = 0
    if finished_at > now:
        skew = int((finished_at - now).total_seconds())
        if started_at:
            started_at = started_at - (finished_at - now)
        finished_at = now
    if records_failed and records_failed > records_processed:
        raise ValidationFailed("records_failed exceeds records_processed.", fields={"records_failed": ["Too large."]})
    if status == RunStatus.SUCCESS and records_failed:
        status = RunStatus.PARTIAL
    run_key = run_key or uuid.uuid4().hex
    # In maintenance when a window of the integration (or a global one) was active at the
    # run's finish, on both databases alike (not the status, which the minute sweep moves
    # up to a minute after a window opens or closes).
    covers_all, in_window = maintenance.maintenance_now(finished_at)
    run = dict(integration=integration, run_key=run_key, source=source, status=status, started_at=started_at,
               in_maintenance=covers_all or integration.pk in in_window,
               finished_at=finished_at, records_processed=records_processed, records_failed=records_failed,
               lag_seconds=lag_seconds, clock_skew_seconds=skew,
               reported_by=actor if getattr(actor, "is_authenticated", False) else None, business_keys=business_keys)
    if connection.vendor == "postgresql":
        return _record_run_postgres(run, actor=actor, now=now)
    return _record_run_orm(run, actor=actor, now=now)


def _same_report(existing: SyncRun, run: dict) -> SyncRun:
    """The stored run when ``run`` repeats it; else a 409 naming it."""
    if (existing.status, existing.records_processed, existing.records_failed) != (
            run["status"], run["records_processed"], run["records_failed"]):
        raise IdempotencyConflict(f"Run {run['run_key']!r} was already reported with different figures (run {existing.pk}).",
                                  fields={"id": existing.pk, "run_id": run["run_key"]})
    return existing


_RUN_COLUMNS = ("integration_id, run_key, source, status, started_at, finished_at, received_at, records_processed, "
                "records_failed, lag_seconds, in_maintenance, clock_skew_seconds, reported_by_id, business_keys")


def _record_run_postgres(run: dict, *, actor, now):
    """record_run's writes in one statement (data-modifying CTEs): the config row locked,
    the run inserted unless its key is known, the config's run figures moved, the audit row;
    the status is evaluated (probes, windows, flips) only when this run can change it."""
    import json

    from django.contrib.contenttypes.models import ContentType

    from controlplane.middleware import current_request_id
    from controlplane.models import AuditEntry

    q = connection.ops.quote_name
    config_t, run_t, audit_t = (q(m._meta.db_table) for m in (HealthConfig, SyncRun, AuditEntry))
    integration, status = run["integration"], run["status"]
    actor_obj = run["reported_by"]
    params = {
        **{k: v for k, v in run.items() if k not in ("integration", "reported_by", "business_keys")},
        "integration": integration.pk, "now": now, "business_keys": json.dumps(run["business_keys"]),
        "reported_by": getattr(actor_obj, "pk", None), "failed": status == RunStatus.FAILED,
        "actor_repr": getattr(actor_obj, "username", "") or ("system" if actor is None else str(actor))[:150],
        "content_type": ContentType.objects.get_for_model(SyncRun).pk, "request_id": current_request_id() or "",
        "object_repr": str(f"{integration} run {run['run_key']} ({status})")[:200],
        "after": json.dumps({"status": status, "run_key": run["run_key"], "clock_skew_seconds": run["clock_skew_seconds"],
                             "source": run["source"]}),
    }
    config_fields = [f.column for f in HealthConfig._meta.concrete_fields]
    run_columns = [f.column for f in SyncRun._meta.concrete_fields]  # in the models' order, not the table's
    sql = f"""
        WITH prev AS (
            SELECT c.id, c.status, c.consecutive_run_failures FROM {config_t} c
            WHERE c.integration_id = %(integration)s FOR UPDATE
        ), existing AS (
            SELECT r.* FROM {run_t} r WHERE r.integration_id = %(integration)s AND r.run_key = %(run_key)s
        ), run AS (
            INSERT INTO {run_t} ({_RUN_COLUMNS})
            SELECT %(integration)s, %(run_key)s, %(source)s, %(status)s, %(started_at)s, %(finished_at)s, %(now)s,
                %(records_processed)s, %(records_failed)s, %(lag_seconds)s, %(in_maintenance)s,
                %(clock_skew_seconds)s, %(reported_by)s, %(business_keys)s::jsonb
            FROM prev WHERE NOT EXISTS (SELECT 1 FROM existing)
            ON CONFLICT (integration_id, run_key) DO NOTHING
            RETURNING *
        ), cfg AS (
            UPDATE {config_t} c SET
                last_run_at = GREATEST(c.last_run_at, %(finished_at)s),
                last_success_at = CASE WHEN %(failed)s THEN c.last_success_at
                                       ELSE GREATEST(c.last_success_at, %(finished_at)s) END,
                consecutive_run_failures = CASE WHEN %(failed)s THEN c.consecutive_run_failures + 1 ELSE 0 END,
                updated_at = %(now)s
            FROM prev WHERE c.id = prev.id AND EXISTS (SELECT 1 FROM run)
            RETURNING {", ".join(f"c.{q(col)}" for col in config_fields)},
                prev.consecutive_run_failures AS previous_failures
        ), audit AS (
            INSERT INTO {audit_t} (created_at, actor_id, actor_repr, action, content_type_id, object_id, object_repr,
                before, after, request_id, note)
            SELECT %(now)s, %(reported_by)s, %(actor_repr)s, 'sync_run.reported', %(content_type)s, run.id::text,
                %(object_repr)s, NULL, %(after)s::jsonb, %(request_id)s, ''
            FROM run
        )
        SELECT true, {", ".join(f"run.{q(col)}" for col in run_columns)}, cfg.* FROM run, cfg
        UNION ALL SELECT false, {", ".join(f"existing.{q(col)}" for col in run_columns)},
            {", ".join(["NULL"] * (len(config_fields) + 1))} FROM existing
    """
    run_fields = SyncRun._meta.concrete_fields
    for _attempt in range(2):
        row = statements.fetchone(sql, params)
        if row is not None:
            break
        if not HealthConfig.objects.filter(integration=integration).exists():
            config_for(integration)  # the first report of a new integration: make its config, then again
        # else a concurrent report of the same key won between our reads: again, it is now known
    else:
        raise Conflict(f"Run {run['run_key']!r} is being reported concurrently; retry.")
    created, run_values, config_values = row[0], row[1:1 + len(run_fields)], row[1 + len(run_fields):]
    stored = _from_row(SyncRun, run_values)
    stored.integration = integration
    if not created:
        return _same_report(stored, run), False
    values = dict(zip([*config_fields, "previous_failures"], config_values, strict=True))
    kind = PingKind.FAIL if status == RunStatus.FAILED else PingKind.SUCCESS
    if _may_change_status(values["status"], kind, values["previous_failures"], values["paused"]):
        _apply_status(_from_row(HealthConfig, config_values[:-1]), now)
    return stored, True


def _from_row(model, values):
    """A model instance from a raw row of all its concrete columns, through the fields'
    database converters (JSON columns arrive as text from a raw cursor)."""
    kwargs = {}
    for field, value in zip(model._meta.concrete_fields, values, strict=True):
        for convert in field.get_db_converters(connection):
            value = convert(value, None, connection)
        kwargs[field.attname] = value
    return model(**kwargs)


@transaction.atomic
def _record_run_orm(run: dict, *, actor, now):
    """The same through the ORM (SQLite, the demo)."""
    integration, status, run_key = run["integration"], run["status"], run["run_key"]
    finished_at, skew, source = run["finished_at"], run["clock_skew_seconds"], run["source"]
    config = HealthConfig.objects.select_for_update().get(pk=config_for(integration).pk)
    existing = SyncRun.objects.filter(integration=integration, run_key=run_key).first()
    if existing is not None:
        return _same_report(existing, run), False
    run = SyncRun(**run)
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError:
        raise Conflict(f"Run {run_key!r} is being reported concurrently; retry.") from None
    fields = ["last_run_at", "consecutive_run_failures", "updated_at"]
    if config.last_run_at is None or finished_at >= config.last_run_at:
        config.last_run_at = finished_at
    if status == RunStatus.FAILED:
        config.consecutive_run_failures += 1
    else:
        config.consecutive_run_failures = 0
        if config.last_success_at is None or finished_at > config.last_success_at:
            config.last_success_at = finished_at
            fields.append("last_success_at")
    config.save(update_fields=fields)
    audit.record(actor=actor, action="sync_run.reported", obj=run,
                 after={"status": status, "run_key": run_key, "clock_skew_seconds": skew, "source": source})
    _apply_status(config, now)
    return run, True


MAX_RUN_BUSINESS_KEYS = 1000


def _clean_business_keys(keys) -> list[str]:
    """Distinct non-empty keys of at most 200 characters, in the order sent; else a 400."""
    keys = list(keys or ())
    if len(keys) > MAX_RUN_BUSINESS_KEYS:
        raise ValidationFailed(f"A run carries at most {MAX_RUN_BUSINESS_KEYS} business keys; this one has {len(keys)}.",
                               fields={"business_keys": ["Too many."]})
    bad = [k for k in keys if not isinstance(k, str) or not k.strip() or len(k) > 200 or "\x00" in k]
    if bad:
        raise ValidationFailed("Each business key is a non-empty text of at most 200 characters.",
                               fields={"business_keys": ["Invalid key."]})
    return list(dict.fromkeys(k.strip() for k in keys))


def heartbeat(*, token, failed=False, scope=None, kind=None, rid=None, exit_status=None, body=b"", method="",
              user_agent=""):
    """A ping on the integration's heartbeat URL in healthchecks.io's protocol (the URL's
    token is its credential, bound to that one integration). ``kind`` is ``start``,
    ``success``, ``fail`` or ``log``; an ``exit_status`` of 0 is a success and 1-255 a
    failure. ``start`` and ``log`` are kept as pings and change nothing else; success and
    fail are also a run (with its audit row), timed from the matching start: the one with
    the same ``rid``, else the last start without a rid since the previous run. The body
    is kept, capped at ``HEARTBEAT_BODY_LIMIT_BYTES``, as the run's log.

    A caller that also sends a service token must speak for the integration. Returns the
    run (None for start/log pings).

    The steady path is one SQL statement on PostgreSQL (the config's conditional UPDATE ...
    RETURNING, the run, the ping and the audit row as data-modifying CTEs); the status is
    evaluated (probes, windows, flips) only when this ping can change it."""
    if exit_status is not None:
        if not 0 <= exit_status <= 255:
            raise ValidationFailed("The exit status must be 0-255.", fields={"exit_status": ["Must be 0-255."]})
        kind = PingKind.SUCCESS if exit_status == 0 else PingKind.FAIL
    kind = kind or (PingKind.FAIL if failed else PingKind.SUCCESS)
    if kind not in PingKind.values:
        raise ValidationFailed(f"Unknown ping {kind!r}.")
    limit = settings.HEARTBEAT_BODY_LIMIT_BYTES
    ping = {
        "kind": kind, "rid": rid, "exit_status": exit_status, "method": method[:7], "user_agent": user_agent[:200],
        # PostgreSQL text cannot hold NUL; the log is for people, so decode leniently.
        "body": body[:limit].decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
        "body_truncated": len(body) > limit,
    }
    if scope is not None and not scope.all_integrations:
        integration_id = HealthConfig.objects.filter(heartbeat_token=token).values_list("integration_id", flat=True).first()
        if integration_id is None:
            raise NotFound("Unknown heartbeat URL.")
        token_scope.require(scope, [_IntegrationRef(integration_id)], what="ping heartbeats")
    if connection.vendor == "postgresql":
        return _heartbeat_postgres(token, ping)
    return _heartbeat_orm(token, ping)


class _IntegrationRef:
    """An integration known by id alone, for a scope check's error message."""

    def __init__(self, pk):
        self.pk = pk

    @property
    def slug(self):
        from catalog.models import Integration

        return Integration.objects.filter(pk=self.pk).values_list("slug", flat=True).first()


def _ping_status(kind):
    return RunStatus.SUCCESS if kind == PingKind.SUCCESS else RunStatus.FAILED


def _may_change_status(status, kind, previous_failures, paused):
    """False when this ping cannot change the status: a success on an integration that is
    up with no failed runs, a failure on one already down, or one paused or in
    maintenance (only the clock or a setting changes those)."""
    if (paused and status == Status.PAUSED) or status == Status.MAINTENANCE:
        return False
    if kind == PingKind.SUCCESS:
        return not (status == Status.UP and previous_failures == 0)
    return status != Status.DOWN


_PING_COLUMNS = "kind, rid, exit_status, method, user_agent, body, body_truncated"


def _heartbeat_postgres(token, ping):
    from django.contrib.contenttypes.models import ContentType

    from controlplane.middleware import current_request_id
    from controlplane.models import AuditEntry

    from .models import HeartbeatPing

    now = timezone.now()
    q = connection.ops.quote_name
    config_t, run_t, ping_t = q(HealthConfig._meta.db_table), q(SyncRun._meta.db_table), q(HeartbeatPing._meta.db_table)
    covers_all, in_window = maintenance.maintenance_now(now)
    params = {"token": token, "now": now, "maintenance_all": covers_all, "maintenance_ids": in_window, **ping}
    ping_values = "%(kind)s, %(rid)s::uuid, %(exit_status)s, %(method)s, %(user_agent)s, %(body)s, %(body_truncated)s"
    with statements.cursor(savepoint=False) as cursor:
        if ping["kind"] in (PingKind.START, PingKind.LOG):
            cursor.execute(
                f"INSERT INTO {ping_t} (integration_id, received_at, {_PING_COLUMNS}) "
                f"SELECT integration_id, %(now)s, {ping_values} FROM {config_t} WHERE heartbeat_token = %(token)s "
                f"RETURNING id", params,
            )
            if cursor.fetchone() is None:
                raise NotFound("Unknown heartbeat URL.")
            return None
        from catalog.models import Integration

        params.update(
            ok=ping["kind"] == PingKind.SUCCESS, status=_ping_status(ping["kind"]), run_key=uuid.uuid4().hex,
            content_type=ContentType.objects.get_for_model(SyncRun).pk, request_id=current_request_id() or "",
            audit_action="sync_run.reported", source=RunSource.HEARTBEAT,
        )
        integration_t, audit_t = q(Integration._meta.db_table), q(AuditEntry._meta.db_table)
        # prev locks the row and keeps the values before this ping; start is the matching
        # /start (same rid, or the last start without one since the previous run).
        cursor.execute(
            f"""
            WITH prev AS (
                SELECT c.id, c.last_run_at, c.consecutive_run_failures, i.name
                FROM {config_t} c JOIN {integration_t} i ON i.id = c.integration_id
                WHERE c.heartbeat_token = %(token)s FOR UPDATE OF c
            ), cfg AS (
                UPDATE {config_t} c SET
                    last_run_at = GREATEST(c.last_run_at, %(now)s),
                    last_success_at = CASE WHEN %(ok)s THEN GREATEST(c.last_success_at, %(now)s) ELSE c.last_success_at END,
                    consecutive_run_failures = CASE WHEN %(ok)s THEN 0 ELSE c.consecutive_run_failures + 1 END,
                    updated_at = %(now)s
                FROM prev WHERE c.id = prev.id
                RETURNING c.id, c.integration_id, c.status, c.paused, c.failure_threshold, c.success_threshold,
                    c.expected_period_seconds, c.grace_seconds, c.last_success_at, c.last_run_at,
                    c.consecutive_run_failures, c.updated_at, c.status_reason, c.status_changed_at,
                    prev.consecutive_run_failures AS previous_failures, prev.last_run_at AS previous_run_at, prev.name
            ), start AS (
                SELECT p.received_at FROM {ping_t} p, cfg
                WHERE p.integration_id = cfg.integration_id AND p.kind = 'start' AND p.received_at <= %(now)s
                  AND ((%(rid)s::uuid IS NOT NULL AND p.rid = %(rid)s::uuid)
                       OR (%(rid)s::uuid IS NULL AND p.rid IS NULL
                           AND p.received_at > COALESCE(cfg.previous_run_at, '-infinity')))
                ORDER BY p.received_at DESC LIMIT 1
            ), run AS (
                INSERT INTO {run_t} (integration_id, run_key, source, status, started_at, finished_at, received_at,
                    records_processed, records_failed, lag_seconds, in_maintenance, clock_skew_seconds, reported_by_id,
                    business_keys)
                SELECT cfg.integration_id, %(run_key)s, %(source)s, %(status)s, (SELECT received_at FROM start),
                    %(now)s, %(now)s, 0, 0, NULL,
                    %(maintenance_all)s OR cfg.integration_id = ANY(%(maintenance_ids)s::bigint[]), 0, NULL, '[]'::jsonb
                FROM cfg
                RETURNING id, integration_id, started_at
            ), ping AS (
                INSERT INTO {ping_t} (integration_id, received_at, run_id, {_PING_COLUMNS})
                SELECT run.integration_id, %(now)s, run.id, {ping_values} FROM run
            ), audit AS (
                INSERT INTO {audit_t} (created_at, actor_id, actor_repr, action, content_type_id, object_id, object_repr,
                    before, after, request_id, note)
                SELECT %(now)s, NULL, 'system', %(audit_action)s, %(content_type)s, run.id::text,
                    LEFT(cfg.name || ' run ' || %(run_key)s::text || ' (' || %(status)s::text || ')', 200), NULL,
                    jsonb_build_object('status', %(status)s::text, 'run_key', %(run_key)s::text, 'clock_skew_seconds', 0,
                                       'source', %(source)s::text),
                    %(request_id)s, ''
                FROM run, cfg
            )
            SELECT cfg.*, run.id AS run_id, run.started_at FROM cfg, run
            """,
            params,
        )
        row = cursor.fetchone()
        if row is None:
            raise NotFound("Unknown heartbeat URL.")
        names = [col.name for col in cursor.description]
    values = dict(zip(names, row, strict=True))
    run = SyncRun(
        pk=values["run_id"], integration_id=values["integration_id"], run_key=params["run_key"], source=RunSource.HEARTBEAT,
        status=params["status"], started_at=values["started_at"], finished_at=now, received_at=now,
        in_maintenance=covers_all or values["integration_id"] in in_window,
    )
    if _may_change_status(values["status"], ping["kind"], values["previous_failures"], values["paused"]):
        fields = {f.attname for f in HealthConfig._meta.concrete_fields}
        _apply_status(HealthConfig(**{k: v for k, v in values.items() if k in fields}), now)
    return run


@transaction.atomic
def _heartbeat_orm(token, ping):
    """The same on SQLite (the demo): the ORM, a handful of statements."""
    from .models import HeartbeatPing

    config = HealthConfig.objects.select_related("integration").filter(heartbeat_token=token).first()
    if config is None:
        raise NotFound("Unknown heartbeat URL.")
    now = timezone.now()
    run = None
    if ping["kind"] not in (PingKind.START, PingKind.LOG):
        starts = HeartbeatPing.objects.filter(integration_id=config.integration_id, kind=PingKind.START, received_at__lte=now)
        if ping["rid"] is not None:
            starts = starts.filter(rid=ping["rid"])
        else:
            starts = starts.filter(rid__isnull=True)
            if config.last_run_at is not None:
                starts = starts.filter(received_at__gt=config.last_run_at)
        started_at = starts.order_by("-received_at").values_list("received_at", flat=True).first()
        run, _ = record_run(integration=config.integration, actor=None, status=_ping_status(ping["kind"]),
                            started_at=started_at, source=RunSource.HEARTBEAT)
    HeartbeatPing.objects.create(integration_id=config.integration_id, received_at=now, run=run, **ping)
    return run


# ---------------------------------------------------------------------------------------
# Status engine


def compute_status(config, probe_states, now, *, in_maintenance=False):
    """(status, reason) from the probes' states and the run history."""
    if config.paused:
        return Status.PAUSED, "Paused."
    if in_maintenance:
        return Status.MAINTENANCE, "In a maintenance window."
    down = [p for p in probe_states if p[0] == ProbeState.DOWN]
    up = [p for p in probe_states if p[0] == ProbeState.UP]
    if probe_states and len(down) == len(probe_states):
        detail = down[0][1] or "conditions not met"
        return Status.DOWN, f"All {len(down)} probe(s) failing: {detail}"[:300]
    if config.consecutive_run_failures >= config.failure_threshold:
        return Status.DOWN, f"{config.consecutive_run_failures} consecutive failed runs."
    if config.expected_period_seconds:
        reference = config.last_success_at
        deadline_base = reference or config.updated_at
        deadline = deadline_base + dt.timedelta(seconds=config.expected_period_seconds + config.grace_seconds)
        if now > deadline and (reference is not None or config.last_run_at is not None):
            since = f"since {reference:%Y-%m-%d %H:%M} UTC" if reference else "ever"
            return Status.LATE, (f"No successful run {since}; expected every {config.expected_period_seconds} s "
                                 f"plus {config.grace_seconds} s grace.")
    if down:
        return Status.DEGRADED, f"{len(down)} of {len(probe_states)} probes failing: {down[0][1]}"[:300]
    if config.consecutive_run_failures:
        return Status.DEGRADED, f"Last {config.consecutive_run_failures} run(s) failed."
    if up or config.last_success_at:
        return Status.UP, "Probes passing." if up else "Runs succeeding."
    return Status.UNKNOWN, "No checks or runs yet."


def _apply_status(config, now, *, windows=None, probe_states=None):
    if probe_states is None:
        probe_states = list(
            Probe.objects.filter(integration_id=config.integration_id, enabled=True)
            .exclude(state=ProbeState.UNKNOWN).values_list("state", "last_error")
        )
    in_maint = maintenance.in_maintenance(config.integration_id, now, windows)
    status, reason = compute_status(config, probe_states, now, in_maintenance=in_maint)
    if status != config.status:
        apply_status_changes([(config, status, reason)], now=now)
    return status


def refresh_statuses(integration_ids=None, now=None):
    """Re-evaluate the status of these integrations (all with a config when None) and
    apply the changes in bulk. Returns how many changed."""
    now = now or timezone.now()
    configs = HealthConfig.objects.all()
    if integration_ids is not None:
        configs = configs.filter(integration_id__in=list(integration_ids))
    windows = maintenance.windows_for(None if integration_ids is None else list(integration_ids))
    covers_all, in_maint = maintenance.active_integration_ids(now, windows)
    states = {}
    probes = Probe.objects.filter(enabled=True).exclude(state=ProbeState.UNKNOWN).order_by()
    if integration_ids is not None:
        probes = probes.filter(integration_id__in=list(integration_ids))
    for integration_id, state, error in probes.values_list("integration_id", "state", "last_error").iterator(chunk_size=5000):
        states.setdefault(integration_id, []).append((state, error))
    changes = []
    for config in configs.iterator(chunk_size=2000):
        status, reason = compute_status(config, states.get(config.integration_id, []), now,
                                        in_maintenance=covers_all or config.integration_id in in_maint)
        if status != config.status:
            changes.append((config, status, reason))
    return apply_status_changes(changes, now=now)


@transaction.atomic
def apply_status_changes(changes, *, now=None, actor=None):
    """Apply many (config, new status, reason) at once: rows are locked and re-checked
    (a change made meanwhile wins), then one UPDATE per (new status, reason), one bulk
    insert of flips and of audit rows, and notifications queued after commit."""
    from django.contrib.contenttypes.models import ContentType

    from controlplane.middleware import current_request_id
    from controlplane.models import AuditEntry

    from .notify import notify_flips, should_notify

    if not changes:
        return 0
    now = now or timezone.now()
    expected = {config.pk: config.status for config, _, _ in changes}
    current = {}
    pks = list(expected)
    for start in range(0, len(pks), 1000):
        current.update(HealthConfig.objects.select_for_update().filter(pk__in=pks[start:start + 1000]).values_list("pk", "status"))
    applied = [(c, s, r[:300]) for c, s, r in changes if current.get(c.pk) == expected[c.pk]]
    groups = {}
    for config, status, reason in applied:
        groups.setdefault((status, reason), []).append(config.pk)
    for (status, reason), ids in groups.items():
        for start in range(0, len(ids), 1000):
            HealthConfig.objects.filter(pk__in=ids[start:start + 1000]).update(status=status, status_reason=reason, status_changed_at=now)
    content_type = ContentType.objects.get_for_model(HealthConfig)
    actor_obj = actor if getattr(actor, "is_authenticated", False) else None
    actor_repr = getattr(actor_obj, "username", "") or "system"
    request_id = current_request_id() or ""
    if connection.vendor == "postgresql" and applied:
        flip_ids = _insert_flips_and_audit_postgres(applied, now, content_type.pk, actor_obj, actor_repr, request_id)
        flips = [Flip(pk=pk, from_status=c.status, to_status=s) for pk, (c, s, _) in zip(flip_ids, applied, strict=True)]
    else:
        flips = Flip.objects.bulk_create(
            [Flip(integration_id=c.integration_id, from_status=c.status, to_status=s, reason=r, at=now) for c, s, r in applied],
            batch_size=2000,
        )
        AuditEntry.objects.bulk_create([
            AuditEntry(actor=actor_obj, actor_repr=actor_repr,
                       action="health.status_changed", content_type=content_type, object_id=str(c.pk),
                       object_repr=f"Health of integration {c.integration_id}", before={"status": c.status},
                       after={"status": s}, request_id=request_id, note=r)
            for c, s, r in applied
        ], batch_size=2000)
    for config, status, reason in applied:
        config.status, config.status_reason, config.status_changed_at = status, reason, now
    to_notify = [f.pk for f in flips if f.pk is not None and should_notify(f)]
    if to_notify:
        transaction.on_commit(lambda: notify_flips(to_notify))
    return len(applied)


def _insert_flips_and_audit_postgres(applied, now, content_type_id, actor, actor_repr, request_id):
    """The flips and their audit rows as two INSERT ... SELECT FROM unnest(arrays): the
    first sweep of a new estate flips ~10,000 integrations at once, and bulk_create spent
    ~2 s of CPU building model instances and per-row placeholders for them. Returns the
    flip ids in ``applied`` order."""
    from controlplane.models import AuditEntry

    flip_table = connection.ops.quote_name(Flip._meta.db_table)
    audit_table = connection.ops.quote_name(AuditEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {flip_table} (integration_id, from_status, to_status, reason, at) "
            f"SELECT v.i, v.f, v.t, v.r, %s FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::varchar[]) "
            f"WITH ORDINALITY AS v(i, f, t, r, n) ORDER BY v.n RETURNING id",
            [now, [c.integration_id for c, _, _ in applied], [c.status for c, _, _ in applied],
             [s for _, s, _ in applied], [r for _, _, r in applied]],
        )
        flip_ids = sorted(row[0] for row in cursor.fetchall())  # ids follow insertion order (one sequence)
        cursor.execute(
            f"INSERT INTO {audit_table} (created_at, actor_id, actor_repr, action, content_type_id, object_id, object_repr, "
            f"before, after, request_id, note) "
            f"SELECT %s, %s, %s, 'health.status_changed', %s, v.o, 'Health of integration ' || v.i, "
            f"jsonb_build_object('status', v.f), jsonb_build_object('status', v.t), %s, v.r "
            f"FROM unnest(%s::varchar[], %s::bigint[], %s::varchar[], %s::varchar[], %s::text[]) AS v(o, i, f, t, r)",
            [now, getattr(actor, "pk", None), actor_repr, content_type_id, request_id,
             [str(c.pk) for c, _, _ in applied], [c.integration_id for c, _, _ in applied],
             [c.status for c, _, _ in applied], [s for _, s, _ in applied], [r for _, _, r in applied]],
        )
    return flip_ids


def refresh_time_based(now=None):
    """Statuses that change with the clock alone: late integrations and maintenance
    windows starting or ending. Selects candidates in SQL so 10,000 quiet integrations
    cost one query."""
    now = now or timezone.now()
    late_candidates = set()
    for integration_id, last_success, period, grace in (
        HealthConfig.objects.filter(expected_period_seconds__isnull=False, paused=False, last_success_at__isnull=False)
        .exclude(status__in=[Status.LATE, Status.DOWN, Status.MAINTENANCE])
        .values_list("integration_id", "last_success_at", "expected_period_seconds", "grace_seconds")
        .iterator(chunk_size=5000)
    ):
        if now > last_success + dt.timedelta(seconds=period + grace):
            late_candidates.add(integration_id)
    windows = maintenance.windows_for()
    covers_all, active = maintenance.active_integration_ids(now, windows)
    in_maint_now = set(HealthConfig.objects.filter(status=Status.MAINTENANCE).values_list("integration_id", flat=True))
    if covers_all:
        return refresh_statuses(None, now)
    ids = late_candidates | active | in_maint_now
    return refresh_statuses(ids, now) if ids else 0
