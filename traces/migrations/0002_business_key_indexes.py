"""The indexes that make any business key searchable without a fixed list of names.

PostgreSQL: a GIN (jsonb_ops) index on every JSON column that carries keys answers
``<column>__carries`` (``@? '$.** ? (@ == "INV-2026-1133")'``, see traces/lookups.py)
at any key name and depth; no extra write in Python (the exception ingest keeps its
statement count). The business-event correlation key gets the plain b-tree it lacked
(its only index started with ``type``). SQLite (the demo) gets the b-tree only and scans
the JSON. The indexes are created here, not in the models' Meta, because GIN exists only
on PostgreSQL."""

from django.db import migrations

GIN = [
    ("traces_event_attributes_gin", "kpis_businessevent", "attributes"),
    ("traces_exception_keys_gin", "exceptions_businessexception", "business_keys"),
    ("traces_syncrun_keys_gin", "health_syncrun", "business_keys"),
    ("traces_recon_sample_gin", "kpis_reconciliation", "mismatched_sample"),
]
BTREE = [("traces_event_correlation_key", "kpis_businessevent", "correlation_key")]


def create(apps, schema_editor):
    run = schema_editor.execute
    for name, table, column in BTREE:
        run(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})")
    if schema_editor.connection.vendor == "postgresql":
        for name, table, column in GIN:
            # A small pending list: a lookup scans it linearly until (auto)vacuum merges it, so
            # the default 4 MB costs tens of ms per search after a burst of inserts.
            run(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column}) "
                "WITH (gin_pending_list_limit = 256)")


def drop(apps, schema_editor):
    for name, _, _ in BTREE + (GIN if schema_editor.connection.vendor == "postgresql" else []):
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("traces", "0001_initial"),
        ("kpis", "0003_merge_20261202_0954"),
        ("exceptions", "0006_merge_20261202_0953"),
        ("health", "0003_syncrun_business_keys"),
    ]

    operations = [migrations.RunPython(create, drop)]
