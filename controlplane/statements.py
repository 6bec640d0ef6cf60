"""One-statement writes on the machine hot paths (single ingest, sync runs, business
events, heartbeats), run the cheap way on PostgreSQL.

Django's psycopg cursor binds parameters on the client, so PostgreSQL parsed and planned
each of these long data-modifying ``WITH`` statements afresh on every post: about half
of the database's CPU per post (bench_hotpath). Here the statement goes through a
server-side-binding psycopg cursor that prepares it once per connection; PostgreSQL then
keeps a generic plan. Outside a transaction the statement runs on its own in autocommit
mode (one statement is atomic by itself: no ``BEGIN``/``COMMIT`` round trips); inside
one it runs in a savepoint, so a unique violation leaves the caller's transaction usable,
as ``atomic()`` around it did.

The cursor is wrapped by Django like any other (``connection.execute_wrappers``, the
debug cursor), so statement counts in tests and benchmarks still see it. Parameters are
bound by the server, strings as ``text``: cast a parameter whose type PostgreSQL cannot
infer (``%(x)s::uuid``, ``%(x)s::jsonb``). Only statements run here are prepared: Django's own cursors bind on
the client and never prepare, whatever the connection's threshold says.
``DB_PREPARED_STATEMENTS=0`` (a pooler that cannot keep prepared statements) sends them as
Django sends every query, still in autocommit.
"""

from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.db import connection, transaction
from psycopg.pq import TransactionStatus
from psycopg.types.string import StrDumper

_ONLY_WHEN_ASKED = 2**31 - 1  # a count never reached: prepare only when execute() says so


class _PreparedCursor(psycopg.Cursor):
    def __init__(self, connection):
        super().__init__(connection)
        # Strings as text, not psycopg's default "unknown": a parameter both inserted into
        # a varchar column and compared with one would otherwise be deduced as two types.
        self.adapters.register_dumper(str, StrDumper)

    # Django's cursor wrapper passes no keyword arguments to execute(): ask here.
    def execute(self, query, params=None, *, prepare=True, binary=None):
        try:
            return super().execute(query, params, prepare=prepare, binary=binary)
        except (psycopg.errors.FeatureNotSupported, psycopg.errors.InvalidSqlStatementName) as exc:
            # "cached plan must not change result type": a migration changed a column this
            # connection's prepared statement returns; "prepared statement does not exist":
            # something deallocated it behind psycopg's back. Outside a transaction nothing
            # was done: drop the connection's prepared statements (psycopg forgets its own
            # when it sees DEALLOCATE ALL) and run it once more, prepared afresh.
            stale = isinstance(exc, psycopg.errors.InvalidSqlStatementName) or "cached plan" in str(exc)
            if not stale or self.connection.info.transaction_status != TransactionStatus.IDLE:
                raise
            super().execute("DEALLOCATE ALL", prepare=False)
            return super().execute(query, params, prepare=prepare, binary=binary)

    def _convert_query(self, query, params=None):
        # psycopg records the query only when it does not prepare it; Django's debug cursor
        # (connection.queries, CaptureQueriesContext) reads it back from there.
        self._query = super()._convert_query(query, params)
        return self._query


@contextmanager
def cursor(*, savepoint=True):
    """A Django-wrapped cursor whose statements are prepared and bound by the server;
    in a savepoint when a transaction is open (unless ``savepoint`` is False: a caller
    that lets every database error end its work), else in autocommit."""
    if savepoint and connection.in_atomic_block:
        with transaction.atomic(), _cursor() as c:
            yield c
    else:
        with _cursor() as c:
            yield c


@contextmanager
def _cursor():
    if not settings.DB_PREPARED_STATEMENTS:
        with connection.cursor() as plain:
            yield plain
        return
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw = connection.connection
    # Django turns psycopg's preparing off (None); on only while this cursor runs, so the
    # connection's other queries skip psycopg's bookkeeping of candidates, as before.
    previous = raw.prepare_threshold
    if previous is None:
        raw.prepare_threshold = _ONLY_WHEN_ASKED
    try:
        with connection.wrap_database_errors:
            wrapped = connection._prepare_cursor(_PreparedCursor(raw))
        with wrapped:
            yield wrapped
    finally:
        raw.prepare_threshold = previous


def fetchone(sql: str, params):
    """Run one statement (see the module's docstring) and return its first row or None."""
    with cursor() as c:
        c.execute(sql, params)
        return c.fetchone()
