"""Seeding a load run and reconciling the database with what the server acknowledged.

Both run in a process with Django set up against the same database as the web
processes. Everything a run writes is tagged with its run id (integration slugs, keys,
event ids), so runs can share a database and be reconciled separately.
"""

import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

FINANCE_PASSWORD = "load-finance-pass-2026"


def new_run_id() -> str:
    return f"L{int(time.time())}{secrets.token_hex(2)}"


def seed(run: str, *, integrations: int = 4, finance_users: int = 4, service_accounts: int = 2) -> dict:
    """Integrations (with health configs and heartbeat URLs), finance users with a
    password (they sign in through the login form) and service-account tokens."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import PBKDF2PasswordHasher
    from django.contrib.auth.models import Group

    from catalog.models import Integration, System, Team
    from controlplane import roles
    from controlplane.services import create_service_account
    from health.services import config_for

    team, _ = Team.objects.get_or_create(slug="load-team", defaults={"name": "Load test team"})
    crm, _ = System.objects.get_or_create(slug="load-crm", defaults={"name": "Load CRM", "owner_team": team})
    erp, _ = System.objects.get_or_create(slug="load-erp", defaults={"name": "Load ERP", "owner_team": team})
    slugs, heartbeats = [], []
    for i in range(integrations):
        slug = f"{run.lower()}-int-{i}"
        integration = Integration.objects.create(
            name=f"{run} integration {i}", slug=slug, source_system=crm, target_system=erp, owner_team=team,
        )
        slugs.append(slug)
        heartbeats.append(str(config_for(integration).heartbeat_token))
    User = get_user_model()
    finance_group = Group.objects.get(name=roles.FINANCE)
    finance = []
    # The web processes' hasher whatever this process's settings say (the test settings
    # hash with MD5, which production settings cannot check). One slow hash for all users.
    hasher = PBKDF2PasswordHasher()
    encoded = None
    for i in range(finance_users):
        user, created = User.objects.get_or_create(username=f"load-finance-{i}")
        if created or not user.password.startswith(PBKDF2PasswordHasher.algorithm):
            encoded = encoded or hasher.encode(FINANCE_PASSWORD, hasher.salt())
            user.password = encoded
            user.save(update_fields=["password"])
        user.groups.add(finance_group)
        finance.append((user.username, FINANCE_PASSWORD))
    tokens = [create_service_account(name=f"load-middleware-{i}", role=roles.INTEGRATION, all_integrations=True)[1] for i in range(service_accounts)]
    return {"run": run, "integrations": slugs, "heartbeats": heartbeats, "finance": finance, "tokens": tokens}


@dataclass
class Check:
    name: str
    expected: str
    found: str
    ok: bool


@dataclass
class Reconciliation:
    checks: list = field(default_factory=list)

    def add(self, name, expected, found, ok):
        self.checks.append(Check(name, str(expected), str(found), bool(ok)))

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def format(self) -> str:
        width = max(len(c.name) for c in self.checks)
        lines = [f"{'OK ' if c.ok else 'BAD'} {c.name:{width}}  expected {c.expected:>12}  found {c.found:>12}"
                 for c in self.checks]
        lines.append(f"RECONCILIATION {'EXACT' if self.ok else 'FAILED'}")
        return "\n".join(lines)


def _within(found: int, accepted: int, in_doubt: int) -> bool:
    """Everything acknowledged is there once; at most the in-doubt writes on top."""
    return accepted <= found <= accepted + in_doubt


def reconcile(ledger) -> Reconciliation:
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import Count, Sum

    from catalog.models import Integration
    from controlplane.models import AuditEntry
    from exceptions.models import BusinessException, IdempotencyKey
    from health.models import SyncRun
    from kpis.models import BusinessEvent

    run = ledger.run
    rec = Reconciliation()
    integrations = list(Integration.objects.filter(slug__startswith=f"{run.lower()}-int-").values_list("id", flat=True))

    # --- exceptions: idempotency keys, one exception per business key, occurrences ---------
    stored_keys = dict(IdempotencyKey.objects.filter(key__startswith=f"{run}-k-").values_list("key", "exception_id"))
    accepted = ledger.exc_keys
    missing = [k for k in accepted if k not in stored_keys]
    wrong = [k for k, (_g, pk) in accepted.items() if k in stored_keys and stored_keys[k] != pk]
    extra = [k for k in stored_keys if k not in accepted]
    rec.add("exception keys acknowledged -> stored", len(accepted), len(accepted) - len(missing), not missing)
    rec.add("  ... pointing at the id the API returned", len(accepted), len(accepted) - len(wrong), not wrong)
    rec.add("  stored but never acknowledged (in doubt)", f"<= {len(ledger.exc_in_doubt)}", len(extra),
            set(extra) <= ledger.exc_in_doubt)
    # Only the load's business keys: a health breach may open a system exception too.
    rows = (BusinessException.objects.filter(integration_id__in=integrations, invoice_number__startswith=f"{run}-INV-")
            .values("invoice_number").annotate(n=Count("id"), occ=Sum("occurrences")))
    by_invoice = {r["invoice_number"]: r for r in rows}
    keys_per_group = Counter(g for g, _pk in accepted.values())
    doubt_per_group = Counter(ledger.exc_group_of[k] for k in ledger.exc_in_doubt)
    doubled = [inv for inv, r in by_invoice.items() if r["n"] != 1]
    rec.add("exceptions per business key (invoice)", 1, f"max {max((r['n'] for r in rows), default=0)}", not doubled)
    bad_occ, missing_groups = [], []
    for group, n_keys in keys_per_group.items():
        row = by_invoice.get(f"{run}-INV-{group}")
        if row is None:
            missing_groups.append(group)
        elif not _within(row["occ"], n_keys, doubt_per_group.get(group, 0)):
            bad_occ.append((group, n_keys, row["occ"]))
    unexpected_groups = [inv for inv in by_invoice
                         if int(inv.rsplit("-", 1)[1]) not in keys_per_group
                         and int(inv.rsplit("-", 1)[1]) not in doubt_per_group]
    rec.add("business keys acknowledged -> exception", len(keys_per_group), len(keys_per_group) - len(missing_groups),
            not missing_groups and not unexpected_groups)
    rec.add("occurrences == distinct keys acknowledged", sum(keys_per_group.values()),
            sum(r["occ"] for r in by_invoice.values()), not bad_occ)
    if bad_occ:
        rec.add("  first bad (group, keys, occurrences)", "", bad_occ[:3], False)

    # --- sync runs ---------------------------------------------------------------------------
    api_runs = dict(SyncRun.objects.filter(integration_id__in=integrations, source="api").values_list("run_key", "id"))
    runs_missing = [r for r in ledger.runs if r not in api_runs]
    runs_wrong = [r for r, (_s, pk) in ledger.runs.items() if r in api_runs and api_runs[r] != pk]
    runs_extra = set(api_runs) - set(ledger.runs)
    rec.add("sync runs acknowledged -> stored once", len(ledger.runs), len(ledger.runs) - len(runs_missing),
            not runs_missing and not runs_wrong)
    rec.add("  stored but never acknowledged (in doubt)", f"<= {len(ledger.runs_in_doubt)}", len(runs_extra),
            runs_extra <= ledger.runs_in_doubt)

    # --- heartbeats ----------------------------------------------------------------------------
    beats = Counter(SyncRun.objects.filter(integration_id__in=integrations, source="heartbeat")
                    .values_list("run_key", flat=True))
    beats_missing = [k for k in ledger.heartbeats if beats.get(k) != 1]
    rec.add("heartbeats acknowledged -> stored once", len(ledger.heartbeats),
            len(ledger.heartbeats) - len(beats_missing), not beats_missing)
    rec.add("  heartbeat rows (acknowledged + in doubt)",
            f"{len(ledger.heartbeats)}..{len(ledger.heartbeats) + ledger.heartbeats_in_doubt}", sum(beats.values()),
            _within(sum(beats.values()), len(ledger.heartbeats), ledger.heartbeats_in_doubt))

    # --- business events ------------------------------------------------------------------------
    stored_events = Counter(BusinessEvent.objects.filter(event_id__startswith=f"{run}-ev-").values_list("event_id", flat=True))
    ev_missing = [e for e in ledger.events if stored_events.get(e) != 1]
    ev_extra = set(stored_events) - set(ledger.events)
    created_twice = [e for e, n in ledger.events.items() if n > 1]
    created_never = [e for e, n in ledger.events.items() if n == 0]  # only after a lost first answer
    rec.add("events acknowledged -> stored once", len(ledger.events), len(ledger.events) - len(ev_missing), not ev_missing)
    rec.add("  answered 'created' more than once", 0, len(created_twice), not created_twice)
    rec.add("  stored but never acknowledged (in doubt)", f"<= {len(ledger.events_in_doubt)}", len(ev_extra),
            ev_extra <= ledger.events_in_doubt)
    rec.add("  acknowledged only as 'duplicate' (first answer lost)", "", len(created_never), True)

    # --- finance resolves: one audited transition per 200 ---------------------------------------
    ct = ContentType.objects.get_for_model(BusinessException)
    exc_ids = [str(pk) for pk in BusinessException.objects.filter(integration_id__in=integrations).values_list("id", flat=True)]
    audited = AuditEntry.objects.filter(content_type=ct, object_id__in=exc_ids, action="businessexception.resolved").count()
    rec.add("resolves answered 200 -> audited transitions", len(ledger.resolves), audited,
            _within(audited, len(ledger.resolves), ledger.resolves_in_doubt))

    # --- deliberate re-sends --------------------------------------------------------------------
    rec.add("re-sends answered as repeats (same id)", ledger.dedup_checks,
            ledger.dedup_checks - len(ledger.dedup_violations), not ledger.dedup_violations)
    for violation in ledger.dedup_violations[:5]:
        rec.add("  " + violation[:100], "", "", False)
    return rec
