"""``<jsonfield>__carries="INV-2026-1133"``: the JSON value holds the string anywhere
(any key, any depth, in lists too), so business keys are searchable without a fixed
list of key names.

On PostgreSQL this is ``col @? '$.** ? (@ == "INV-2026-1133")'``, which a plain GIN
(``jsonb_ops``) index on the column answers (the indexes are created by
``traces/migrations/0002_business_key_indexes.py``); SQLite (the demo) scans with
``json_tree``."""

import json

from django.db.models import Lookup


class CarriesValue(Lookup):
    lookup_name = "carries"
    prepare_rhs = False

    def _lhs(self, compiler, connection):
        return self.process_lhs(compiler, connection)

    def as_postgresql(self, compiler, connection):
        lhs, params = self._lhs(compiler, connection)
        variants = dict.fromkeys(str(v) for v in (self.rhs if isinstance(self.rhs, (list, tuple)) else [self.rhs]))
        condition = " || ".join(f"@ == {json.dumps(v)}" for v in variants)
        return f"{lhs} @? %s::jsonpath", [*params, f"$.** ? ({condition})"]

    def as_sql(self, compiler, connection):
        lhs, params = self._lhs(compiler, connection)
        variants = list(dict.fromkeys(str(v) for v in (self.rhs if isinstance(self.rhs, (list, tuple)) else [self.rhs])))
        marks = ", ".join(["%s"] * len(variants))
        return (f"EXISTS (SELECT 1 FROM json_tree({lhs}) AS jt WHERE jt.type = 'text' AND jt.atom IN ({marks}))",
                [*params, *variants])
