"""Vendor-aware SQL for statistics (KPIs, SLA figures), so PostgreSQL and SQLite give the same numbers.

Percentiles follow PostgreSQL's ``percentile_cont``: linear interpolation between the
closest ranks at position ``p * (n - 1)``. On PostgreSQL the real aggregate is used; on
SQLite the same interpolation is done with window functions. Both return rows of
``(group_key, n, p50, p90)`` for an inner query that yields ``(g, v)``.
"""

from django.db import connection


def epoch_hours(expr_end: str, expr_start: str) -> str:
    # Rounded to the millisecond so julianday's float error on SQLite gives the same
    # numbers as PostgreSQL's exact interval arithmetic.
    if connection.vendor == "postgresql":
        seconds = f"EXTRACT(EPOCH FROM ({expr_end} - {expr_start}))"
    else:
        seconds = f"((julianday({expr_end}) - julianday({expr_start})) * 86400.0)"
    return f"(ROUND(CAST({seconds} AS NUMERIC), 3) / 3600.0)"


def grouped_percentiles(inner_sql: str, percentiles=(0.5, 0.9), keys: str = "g") -> str:
    """SQL over ``inner_sql`` (columns ``keys``, v) returning the keys, n and one column per
    percentile. ``keys`` is a comma-separated column list ("w, g": per window and scope)."""
    if connection.vendor == "postgresql":
        cols = ", ".join(f"percentile_cont({p}) WITHIN GROUP (ORDER BY v)" for p in percentiles)
        return f"SELECT {keys}, COUNT(*), {cols} FROM ({inner_sql}) AS src GROUP BY {keys}"
    parts = []
    for p in percentiles:
        pos = f"({p} * (n - 1))"
        lo = f"CAST({pos} AS INTEGER)"
        hi = f"({lo} + CASE WHEN {pos} > {lo} THEN 1 ELSE 0 END)"
        parts.append(
            f"MAX(CASE WHEN i = {lo} THEN v END) + ({pos_frac(pos, lo)}) * "
            f"(MAX(CASE WHEN i = {hi} THEN v END) - MAX(CASE WHEN i = {lo} THEN v END))"
        )
    ranked = (
        f"SELECT {keys}, v, ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY v) - 1 AS i, "
        f"COUNT(*) OVER (PARTITION BY {keys}) AS n FROM ({inner_sql}) AS src"
    )
    return f"SELECT {keys}, MAX(n), {', '.join(parts)} FROM ({ranked}) AS r GROUP BY {keys}"


def pos_frac(pos: str, lo: str) -> str:
    return f"MAX({pos} - {lo})"


def fetch(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
