"""Every write to the exception queues, one module per concern:

- ``routing``: which queue a new exception lands in; queue and routing-rule configuration;
- ``ingestion``: storing, deduplicating and regressing exceptions; automatic open/resolve;
- ``lifecycle``: acknowledge, assign, resolve, dismiss, reopen, bulk actions, comments, overdue;
- ``replay``: replay requests queued through the outbox.

Callers import from ``exceptions.services``; the names below are the public surface.
"""

from .ingestion import IngestItem, auto_resolve, default_fingerprint, ingest, open_system_exception
from .lifecycle import (
    ACTIONS,
    NOT_ELIGIBLE,
    acknowledge,
    add_comment,
    assign,
    bulk_apply,
    dismiss,
    eligible_assignee,
    mark_overdue,
    reopen,
    resolve,
    start_progress,
)
from .replay import (
    close_unsent_attempt,
    in_flight,
    payload_size,
    request_replay,
    reserve_attempt,
    save_replay_target,
)
from .routing import (
    INTEGRATION_OPS,
    QUEUE_FIELDS,
    RULE_FIELDS,
    Router,
    delete_routing_rule,
    due_at,
    integration_ops_queue,
    save_default_queue,
    save_queue,
    save_routing_rule,
)

__all__ = [
    "ACTIONS", "INTEGRATION_OPS", "NOT_ELIGIBLE", "QUEUE_FIELDS", "RULE_FIELDS", "IngestItem", "Router", "acknowledge",
    "add_comment", "assign", "auto_resolve", "bulk_apply", "default_fingerprint", "delete_routing_rule",
    "dismiss", "due_at", "eligible_assignee", "ingest", "integration_ops_queue", "mark_overdue", "open_system_exception",
    "payload_size", "reopen", "request_replay", "reserve_attempt", "close_unsent_attempt", "in_flight", "resolve",
    "save_default_queue", "save_queue", "save_replay_target", "save_routing_rule", "start_progress",
]
