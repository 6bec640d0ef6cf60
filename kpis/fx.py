"""Money in the reporting currency: the conversion rule, in SQL, and the ECB file layout.

Rule (docs/kpis.md, "Money"): an amount in currency C dated D is converted to the
reporting currency R with the rate of day D, else the latest rate before D, looked up as
(in this order) an R->C rate (divided by), a C->R rate, or through the ECB's base EUR
(EUR->C and EUR->R, each on or before D). An amount with no such rate (or no currency)
stays NULL: the KPIs count it apart, per currency, and never add it raw or as 0.

The conversion is an ORM expression (a correlated subquery per leg on the
``(base, quote, -date)`` index), so a KPI and its drill-down rows use the same SQL and the
rows sum to the card by construction.
"""

import csv
import datetime as dt
import io
import sqlite3
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    DateField,
    DecimalField,
    ExpressionWrapper,
    F,
    Func,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Round

from .models import FxRate

ECB_BASE = "EUR"
MONEY = DecimalField(max_digits=24, decimal_places=2)
RATE = DecimalField(max_digits=30, decimal_places=12)
CENT = Decimal("0.01")


def reporting_currency() -> str:
    return settings.REPORTING_CURRENCY


class UtcDay(Func):
    """The UTC calendar day of a datetime column, as plain SQL on both databases (SQLite
    stores UTC text 'YYYY-MM-DD HH:MM:SS', so its first ten characters; no Python function
    per row as TruncDate would call)."""

    output_field = DateField()

    def as_sql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="CAST((%(expressions)s AT TIME ZONE 'UTC') AS date)", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="substr(%(expressions)s, 1, 10)", **extra)


def _rate(base, quote, day):
    """Latest rate of base->quote on or before ``day`` (expressions), as a subquery."""
    return Subquery(
        FxRate.objects.filter(base=base, quote=quote, date__lte=day).order_by("-date").values("rate")[:1],
        output_field=RATE,
    )


def converted(amount: str, currency: str, day_field: str):
    """Expression: ``amount`` (a field) in the reporting currency, rounded to the cent;
    NULL when no rate applies. ``day_field`` is the date field (or annotation) dating it."""
    r = reporting_currency()
    day = OuterRef(day_field)
    cur = OuterRef(currency)
    via_ecb = F(amount) / _rate(ECB_BASE, cur, day) * _rate(ECB_BASE, r, day)  # NULL when R is EUR: covered above
    return Case(
        When(**{f"{amount}__isnull": True}, then=Value(None, output_field=MONEY)),
        When(**{amount: 0}, then=Value(Decimal("0"), output_field=MONEY)),
        When(**{currency: r}, then=F(amount)),
        default=Round(
            # R->C first: reference rates are quoted from the reporting currency (the ECB's EUR).
            Coalesce(F(amount) / _rate(r, cur, day), F(amount) * _rate(cur, r, day), via_ecb, output_field=RATE), 2,
            output_field=MONEY,
        ),
        output_field=MONEY,
    )


def with_converted(qs, amount: str, currency: str, on: str, *, on_is_date: bool = False):
    """``qs`` with ``converted_amount`` (reporting currency, NULL when unconvertible);
    ``on`` dates the amount: a date field, or a datetime taken as its UTC day."""
    if not on_is_date:
        qs = qs.annotate(amount_day=UtcDay(on))
        on = "amount_day"
    return qs.annotate(converted_amount=converted(amount, currency, on))


def _money(value) -> Decimal:
    return (Decimal(str(value)) if value is not None else Decimal("0")).quantize(CENT)


def rows_sql(qs, **columns) -> tuple[str, tuple]:
    """The SQL of ``qs`` (one row per object, DISTINCT if ``qs`` is) with ``columns`` as
    named output columns, to aggregate over in an outer query: the conversion is then
    evaluated once per row instead of once per aggregate that needs it."""
    return qs.order_by().values("pk", **columns).query.sql_with_params()


def money_by_scope(qs, *, path: str | None, amount: str, currency: str, on: str, on_is_date=False,
                   **counts) -> dict[str, dict]:
    """One grouped query: per scope key (``path``; None = the whole estate, key ""), the
    count of rows, the converted total and, per currency, the raw and converted sums and
    how many amounts had no rate. ``counts`` adds ``name=Q(...)`` filtered counts."""
    flags = {f"f_{name}": ExpressionWrapper(condition, output_field=BooleanField()) for name, condition in counts.items()}
    inner, params = rows_sql(qs, g=F(path) if path else Value(""), cur=F(currency), raw=F(amount),
                             day=F(on) if on_is_date else UtcDay(on), **flags)
    sql, params = _converted_aggregate_sql(inner, params, [f"t.{flag}" for flag in flags])
    return _scopes(_fetch(sql, params), list(counts), whole_estate=path is None)


def money_by_window(qs, windows, *, opened: str, closed: str, paths: dict, amount: str, currency: str,
                    on: str, before=None) -> dict:
    """``money_by_scope`` for many point-in-time windows in one query, ``{scope_type:
    {window: {scope: entry}}}`` for each of ``paths`` (scope type -> path, None = the
    whole estate; several only if each path gives a row one key, as foreign keys do): a
    row of ``qs`` counts in a window when it was ``opened`` before the window's ``as_of``
    and not ``closed`` before it (open at that moment), exactly as the one-window rows do.
    ``before`` adds ``name=field`` counts of those rows whose field is before ``as_of``
    (overdue: ``due_at``). Only rows open at some moment between the earliest and the
    latest ``as_of`` are read, each converted once."""
    from .periods import windows_values

    before = before or {}
    first, last = min(w.as_of for w in windows), max(w.as_of for w in windows)
    qs = qs.filter(**{f"{opened}__lt": last}).filter(Q(**{f"{closed}__isnull": True}) | Q(**{f"{closed}__gte": first}))
    scope_types = list(paths)
    keys = {f"g{i}": F(path) if path else Value("") for i, path in enumerate(paths.values())}
    inner, params = rows_sql(qs, **keys, cur=F(currency), raw=F(amount), day=UtcDay(on),
                             t_open=F(opened), t_close=F(closed), **{f"b_{name}": F(f) for name, f in before.items()})
    values, value_params = windows_values(windows, [("a", "as_of")])
    sql, params = _converted_aggregate_sql(
        inner, params, [f"t.b_{name} < {{a}}" for name in before],
        windows=(values, value_params, "t.t_open < {a} AND (t.t_close IS NULL OR t.t_close >= {a})",
                 ["t.t_open", "t.t_close", *(f"t.b_{name}" for name in before)], list(keys)))
    rows = _fetch(sql, params)
    return {
        scope_type: {window: _scopes([r[2:] for r in rows if r[0] == st and r[1] == index], list(before),
                                     whole_estate=paths[scope_type] is None)
                     for index, window in enumerate(windows)}
        for st, scope_type in enumerate(scope_types)
    }


def _fetch(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _scopes(rows, counts: list[str], *, whole_estate: bool) -> dict[str, dict]:
    """Rows (scope, currency, count, raw, converted, missing, *counts) summed per scope."""
    out: dict[str, dict] = {}
    for g, code, n, raw, conv, missing, *flag_counts in rows:
        # int(): PostgreSQL sums counts (sums of sums, across windows) as numeric.
        n, missing, flag_counts = int(n), int(missing), [int(c) for c in flag_counts]
        scope = out.setdefault(g or "", {"count": 0, "amount": Decimal("0.00"), "unconverted_count": 0,
                                         "by_currency": {}, **{name: 0 for name in counts}})
        scope["count"] += n
        scope["amount"] += _money(conv)
        scope["unconverted_count"] += missing
        for name, value in zip(counts, flag_counts, strict=True):
            scope[name] += value
        entry = scope["by_currency"].setdefault(code or "—", {"count": 0, "amount": Decimal("0.00"),
                                                             "converted": Decimal("0.00"), "unconverted_count": 0})
        entry["count"] += n
        entry["amount"] += _money(raw)
        entry["converted"] += _money(conv)
        entry["unconverted_count"] += missing
    if whole_estate and not out:  # nothing open for the whole estate is a real 0, not a gap
        out[""] = {"count": 0, "amount": Decimal("0.00"), "unconverted_count": 0, "by_currency": {},
                   **{name: 0 for name in counts}}
    return out


# The rates CTE is referenced once, so PostgreSQL (12+) would inline it and run its four
# rate lookups for every row instead of once per distinct (currency, day): 1.6 s instead of
# about 0.1 s over 30,000 open exceptions. MATERIALIZED keeps it computed once (SQLite 3.35+
# knows the keyword too).
def _materialized() -> str:
    return "MATERIALIZED " if connection.vendor != "sqlite" or sqlite3.sqlite_version_info >= (3, 35) else ""


def _converted_aggregate_sql(inner: str, params, flags: list[str], windows=None) -> tuple[str, list]:
    """The aggregate over ``inner`` (columns pk, g, cur, raw, day, ...): the same rule and
    rounding as ``converted()``, row by row, but each rate looked up once per distinct
    (currency, day) instead of once per row, joined back to the rows. ``flags`` are SQL
    conditions counted apart. ``windows`` (CTE, params, join condition, moments, keys)
    groups by window and by each scope key column of ``keys``: rows (key index, w, key,
    ...); the condition and the flags read the window's moment as ``{a}``, and ``moments``
    are the row's columns compared with it."""
    r = reporting_currency()
    table = FxRate._meta.db_table

    def leg(base, quote):
        return (f"(SELECT x.rate FROM {table} x WHERE x.base = {base} AND x.quote = {quote} AND x.date <= k.day "
                f"ORDER BY x.date DESC LIMIT 1)")

    conv = ("CASE WHEN t.raw IS NULL THEN NULL WHEN t.raw = 0 THEN 0 WHEN t.cur = %s THEN t.raw "
            "ELSE ROUND(COALESCE(t.raw / f.r1, t.raw * f.r2, t.raw / f.e1 * f.e2), 2) END")
    flag_sums = "".join(f", SUM(CASE WHEN {flag} THEN 1 ELSE 0 END)" for flag in flags)
    rates = (f"f AS {_materialized()}(SELECT k.cur, k.day, {leg('%s', 'k.cur')} AS r1, {leg('k.cur', '%s')} AS r2, "
             f"{leg('%s', 'k.cur')} AS e1, {leg('%s', '%s')} AS e2 FROM (SELECT DISTINCT cur, day FROM t) k)")
    rate_params = [r, r, ECB_BASE, ECB_BASE, r]
    if windows:
        # Each row converted once (MATERIALIZED). A row none of whose moments falls between
        # the earliest and the latest as_of (most of a backlog: opened before the first
        # window's moment, still open after the last) counts the same in every window: those
        # rows are summed once and the sums added to each window. Only the rows that open,
        # close or fall due in between are joined to the windows they count in.
        values, window_params, condition, moments, keys = windows
        steady = " AND ".join(f"({m} IS NULL OR {m} < b.lo OR {m} >= b.hi)" for m in moments)
        sums = ("COUNT(*) AS n, SUM(t.raw) AS raw, SUM(t.conv) AS conv, "
                "SUM(CASE WHEN t.raw IS NOT NULL AND t.conv IS NULL THEN 1 ELSE 0 END) AS missing")

        def counted(a):
            return "".join(f", SUM(CASE WHEN {flag.format(a=a)} THEN 1 ELSE 0 END) AS f{i}" for i, flag in enumerate(flags))

        by = ", ".join(f"t.{k}" for k in keys)
        # Summed by every scope key at once (a row has one of each), then rolled up per
        # scope type: the rows are read and converted once for all scope types.
        outer_flags = "".join(f", SUM(u.f{i})" for i in range(len(flags)))
        rollups = " UNION ALL ".join(
            f"SELECT {st}, u.w, u.{k}, u.cur, SUM(u.n), SUM(u.raw), SUM(u.conv), SUM(u.missing){outer_flags} "
            f"FROM u WHERE u.{k} IS NOT NULL GROUP BY u.w, u.{k}, u.cur" for st, k in enumerate(keys))
        sql = (
            f"WITH t AS ({inner}), {values}, {rates}, "
            f"c AS {_materialized()}(SELECT t.*, {conv} AS conv FROM t JOIN f ON f.cur = t.cur AND f.day = t.day), "
            f"b AS (SELECT MIN(a) AS lo, MAX(a) AS hi FROM wnd), "
            f"s AS (SELECT {by}, t.cur, {sums}{counted('b.lo')} FROM c t CROSS JOIN b "
            f"WHERE {steady} AND {condition.format(a='b.lo')} GROUP BY {by}, t.cur), "
            f"u AS {_materialized()}(SELECT wnd.w, s.* FROM s CROSS JOIN wnd UNION ALL "
            f"SELECT wnd.w, {by}, t.cur, {sums}{counted('wnd.a')} FROM c t CROSS JOIN b "
            f"JOIN wnd ON {condition.format(a='wnd.a')} WHERE NOT ({steady}) GROUP BY wnd.w, {by}, t.cur) "
            f"{rollups}"
        )
        return sql, [*params, *window_params, *rate_params, r]
    sql = (
        f"WITH t AS ({inner}), {rates} "
        f"SELECT t.g, t.cur, COUNT(*), SUM(t.raw), SUM({conv}), "
        f"SUM(CASE WHEN t.raw IS NOT NULL AND ({conv}) IS NULL THEN 1 ELSE 0 END){flag_sums} "
        f"FROM t JOIN f ON f.cur = t.cur AND f.day = t.day GROUP BY t.g, t.cur"
    )
    return sql, [*params, *rate_params, r, r]


def money_detail(scope: dict) -> dict:
    """The JSON-safe snapshot detail of a ``money_by_scope`` entry: money as strings."""
    return {
        **{k: v for k, v in scope.items() if k not in ("amount", "by_currency")},
        "amount": str(scope["amount"]), "currency": reporting_currency(),
        "by_currency": {
            code: {**entry, "amount": str(entry["amount"]), "converted": str(entry["converted"])}
            for code, entry in sorted(scope["by_currency"].items())
        },
    }


# --- the ECB reference-rate file -----------------------------------------------------------

MAX_ROWS = 20_000  # eurofxref-hist.csv holds about 7,000 days since 1999
EARLIEST, LATEST = dt.date(1990, 1, 1), dt.date(2100, 12, 31)


class FxFileError(ValueError):
    """The upload is not an ECB reference-rate CSV; the message says what is wrong."""


def parse_ecb_csv(text: str) -> list[tuple[dt.date, str, Decimal]]:
    """``[(date, quote, rate)]`` (base EUR) from the ECB layout: a ``Date,USD,JPY,...``
    header, one row per day, ``N/A`` (or empty) where the ECB published no rate, and a
    trailing comma on every line. Refuses the whole file on the first bad cell."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise FxFileError("The file is empty.") from None
    if not header or header[0] != "Date":
        raise FxFileError("The first column must be 'Date' (the ECB eurofxref layout: Date,USD,JPY,...).")
    while header and header[-1] == "":  # the ECB's trailing comma
        header.pop()
    quotes = header[1:]
    if not quotes:
        raise FxFileError("No currency columns after 'Date'.")
    for code in quotes:
        if not (len(code) == 3 and code.isalpha() and code.isupper()) or code == ECB_BASE:
            raise FxFileError(f"Column {code!r} is not a three-letter ISO 4217 code other than EUR.")
    if len(set(quotes)) != len(quotes):
        raise FxFileError("A currency column appears twice.")
    rates = []
    for line_no, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if line_no > MAX_ROWS + 1:
            raise FxFileError(f"More than {MAX_ROWS} days; split the file.")
        cells = [c.strip() for c in row]
        while len(cells) > len(header) and cells[-1] == "":
            cells.pop()
        if len(cells) != len(header):
            raise FxFileError(f"Line {line_no}: {len(cells)} cells for {len(header)} columns.")
        try:
            day = dt.date.fromisoformat(cells[0])
        except ValueError:
            raise FxFileError(f"Line {line_no}: {cells[0]!r} is not a date (YYYY-MM-DD).") from None
        if not EARLIEST <= day <= LATEST:
            raise FxFileError(f"Line {line_no}: {day} is outside {EARLIEST}..{LATEST}.")
        for code, cell in zip(quotes, cells[1:], strict=True):
            if cell in ("", "N/A"):
                continue
            rates.append((day, code, parse_rate(cell, where=f"Line {line_no}, {code}")))
    if not rates:
        raise FxFileError("The file holds no rates.")
    return rates


def parse_rate(raw, *, where="rate") -> Decimal:
    try:
        rate = Decimal(str(raw).strip())
    except InvalidOperation:
        raise FxFileError(f"{where}: {raw!r} is not a number.") from None
    if not rate.is_finite() or rate <= 0 or rate >= Decimal("1e9"):
        raise FxFileError(f"{where}: {raw!r} must be a positive number below 1,000,000,000.")
    if rate.as_tuple().exponent < -10:
        raise FxFileError(f"{where}: {raw!r} has more than 10 decimal places.")
    return rate
