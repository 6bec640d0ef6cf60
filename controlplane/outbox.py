"""The transactional outbox: queue Celery work so that a broker outage neither fails the
request nor loses the work.

``enqueue(task, *args, **kwargs)`` writes an ``OutboxMessage`` inside the caller's
transaction (so the work exists exactly when the change does) and, after commit, tries
once to publish it with a short broker timeout (``OUTBOX_PUBLISH_TIMEOUT_SECONDS``, no
retry loop). If the broker is down the row stays pending and the request still succeeds.

``relay()`` publishes pending rows older than ``OUTBOX_RELAY_AFTER_SECONDS`` and delayed
rows whose time has come. It runs from beat (``controlplane.tasks.relay_outbox``, every few
seconds), once when a worker starts, and from ``manage.py relay_outbox`` (``--loop`` keeps
it running where beat itself cannot be trusted). Rows are taken with
``SELECT ... FOR UPDATE SKIP LOCKED`` and the after-commit publisher locks its row the same
way, so two relays (or a relay and the publisher) never publish one row twice.

Delivery is still at-least-once: a process killed between the broker accepting a message
and the row being marked sent re-publishes it. Consumers are idempotent (replay attempts
are unique per replay id and attempt, notifications are claimed by a conditional update,
KPI refreshes replace their snapshots); a consumer without such a key wraps its work in
``exclusive(self.request.id)``, which runs it at most once per outbox row.

Delayed work (``countdown`` / ``eta``) waits in the table, not in the broker: Redis keeps
ETA messages unacknowledged until they run, which with acks_late means a redelivery after
the visibility timeout. The relay publishes them when due (to within one relay interval).
"""

import datetime as dt
import importlib
import logging
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .celery import app as celery_app
from .models import OutboxMessage

logger = logging.getLogger(__name__)


def _task_name(task) -> str:
    return task if isinstance(task, str) else task.name


def enqueue(task, *args, countdown=None, eta=None, **kwargs) -> OutboxMessage:
    """Queue ``task(*args, **kwargs)`` with the caller's transaction. ``countdown`` (seconds)
    and ``eta`` are reserved keyword names; arguments must be JSON values (ids, strings)."""
    now = timezone.now()
    if countdown:
        eta = now + dt.timedelta(seconds=countdown)
    message = OutboxMessage.objects.create(task=_task_name(task), args=list(args), kwargs=kwargs, eta=eta,
                                           created_at=now)
    if eta is None or eta <= now:
        transaction.on_commit(lambda pk=message.pk: publish(pk))
    return message


def _app():
    # The project's app, not celery.current_app: a test or script that makes a client
    # Celery() of its own would become the current one.
    return celery_app


def _task(app, name):
    if name not in app.tasks:
        # shared tasks register on import; a web process may not have imported the module yet
        importlib.import_module(name.rsplit(".", 1)[0])
    return app.tasks[name]


def _connection(app):
    """A broker connection that fails in about OUTBOX_PUBLISH_TIMEOUT_SECONDS instead of
    retrying: kombu's default publish path retries the connection for several seconds."""
    timeout = settings.OUTBOX_PUBLISH_TIMEOUT_SECONDS
    options = {**(app.conf.broker_transport_options or {}), "max_retries": 0,
               "socket_connect_timeout": timeout, "socket_timeout": timeout * 2}
    return app.connection_for_write(connect_timeout=timeout, transport_options=options)


def _send(app, message, connection):
    _task(app, message.task).apply_async(
        args=message.args, kwargs=message.kwargs, task_id=message.task_id, connection=connection, retry=False
    )


def _record_failure(pks, error):
    logger.warning("outbox: could not publish %s message(s), the relay will retry: %s", len(pks), error)
    OutboxMessage.objects.filter(pk__in=pks, sent_at__isnull=True).update(
        attempts=F("attempts") + 1, last_error=f"{type(error).__name__}: {error}"[:500]
    )


def publish(pk) -> bool:
    """Publish one message now (after commit). Never raises for a broker problem."""
    app = _app()
    if app.conf.task_always_eager:
        # Tests and eager setups: run inline as ``.delay`` did, exceptions included.
        message = OutboxMessage.objects.filter(pk=pk, sent_at__isnull=True).first()
        if message is None or not OutboxMessage.objects.filter(pk=pk, sent_at__isnull=True).update(sent_at=timezone.now()):
            return False
        _send(app, message, None)
        return True
    try:
        with _connection(app) as connection, transaction.atomic():
            message = OutboxMessage.objects.select_for_update(skip_locked=True).filter(pk=pk, sent_at__isnull=True).first()
            if message is None:  # the relay has it (or already sent it)
                return False
            _send(app, message, connection)
            OutboxMessage.objects.filter(pk=pk).update(sent_at=timezone.now())
        return True
    except Exception as error:  # any broker failure: the row stays pending for the relay
        _record_failure([pk], error)
        return False


def pending(now=None, older_than=None):
    now = now or timezone.now()
    older_than = settings.OUTBOX_RELAY_AFTER_SECONDS if older_than is None else older_than
    cutoff = now - dt.timedelta(seconds=older_than)
    return OutboxMessage.objects.filter(sent_at__isnull=True).filter(
        Q(eta__isnull=True, created_at__lte=cutoff) | Q(eta__lte=now)
    )


def relay(*, limit=None, older_than=None, now=None) -> dict:
    """Publish due pending messages; returns {"sent": n, "failed": n, "pending": n}."""
    app = _app()
    limit = limit or settings.OUTBOX_RELAY_BATCH
    sent, failed, error = [], [], None
    try:
        with _connection(app) as connection, transaction.atomic():
            batch = list(pending(now, older_than).select_for_update(skip_locked=True).order_by("id")[:limit])
            for message in batch:
                if error is None:
                    try:
                        _send(app, message, connection)
                        sent.append(message.pk)
                        continue
                    except Exception as exc:  # broker gone: keep the rest for the next run
                        error = exc
                failed.append(message.pk)
            if sent:
                OutboxMessage.objects.filter(pk__in=sent).update(sent_at=timezone.now())
    except Exception as exc:  # the connection itself or the database
        error = exc
    if error is not None and failed:
        _record_failure(failed, error)
    elif error is not None:
        logger.warning("outbox relay failed: %s", error)
    keep = timezone.now() - dt.timedelta(days=settings.OUTBOX_RETENTION_DAYS)
    OutboxMessage.objects.filter(sent_at__lt=keep).delete()
    return {"sent": len(sent), "failed": len(failed),
            "pending": OutboxMessage.objects.filter(sent_at__isnull=True).count()}


@contextmanager
def exclusive(task_id):
    """``with exclusive(self.request.id) as first: if first: ...`` runs the body at most
    once per outbox message and never twice at the same time: the row is locked for the
    duration and marked consumed in the same transaction. A worker killed mid-body rolls
    back, so the redelivered message runs it again. Task ids not from the outbox run."""
    if not (task_id or "").startswith("outbox-"):
        yield True
        return
    pk = int(task_id.removeprefix("outbox-"))
    with transaction.atomic():
        row = OutboxMessage.objects.select_for_update(skip_locked=True).filter(pk=pk, consumed_at__isnull=True).first()
        if row is None:
            yield False
            return
        yield True
        OutboxMessage.objects.filter(pk=pk).update(consumed_at=timezone.now())
