"""The one way this project writes Excel workbooks (the XLSX beside every CSV export).

Cells are typed, not text: dates and times are Excel dates (UTC, said in the header),
counts are integers, amounts are numbers with the number format of **their own row's
currency** (``#,##0.00 "GBP"``; no decimals for JPY and the like), so a finance user can
sum a filtered column of one currency in Excel while a column of mixed currencies still
shows which is which. A header row in bold, frozen, with an autofilter.

Streamed: xlsxwriter's ``constant_memory`` mode writes each row out as it comes (only the
current row is held) into a temporary file, which is then streamed back and deleted, so an
export of 100,000 rows costs a temp file, not memory (tests/benchmarks/bench_xlsx.py
measures the peak RSS). Text is always written with ``write_string``: a message that looks
like ``=HYPERLINK(...)`` stays text and never becomes a formula.
"""

import datetime as dt
import tempfile
from dataclasses import dataclass
from decimal import Decimal

import xlsxwriter
from django.http import FileResponse
from django.utils.cache import add_never_cache_headers
from iso4217 import Currency

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXCEL_MAX_TEXT = 32767  # characters in one cell
# ISO 4217 currencies with no minor unit (amounts shown without decimals), from its table.
NO_DECIMALS = frozenset(c.code for c in Currency if c.exponent == 0)

TEXT, INTEGER, NUMBER, MONEY, DATE, DATETIME = "text", "integer", "number", "money", "date", "datetime"


@dataclass(frozen=True)
class Column:
    """One column: its header, its kind, its width in characters and, for money, the
    index of the column holding the row's ISO currency code (or a fixed ``currency``)."""

    header: str
    kind: str = TEXT
    width: int = 14
    currency_column: int | None = None
    currency: str = ""


def currency_format(code: str) -> str:
    code = (code or "").upper()
    digits = "#,##0" if code in NO_DECIMALS else "#,##0.00"
    return f'{digits} "{code}"' if code else digits


class _Formats:
    def __init__(self, workbook):
        self.workbook = workbook
        self.header = workbook.add_format({"bold": True, "bottom": 1, "text_wrap": True, "valign": "top"})
        self.date = workbook.add_format({"num_format": "yyyy-mm-dd"})
        self.datetime = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.integer = workbook.add_format({"num_format": "0"})
        self.number = workbook.add_format({"num_format": "#,##0.####"})
        self._money = {}

    def money(self, code: str):
        code = (code or "").upper()
        if code not in self._money:  # a handful of currencies: one format each, made once
            self._money[code] = self.workbook.add_format({"num_format": currency_format(code)})
        return self._money[code]


def _utc_naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def _write(sheet, formats, r, c, column, value, row):
    if value is None or value == "":
        return
    kind = column.kind
    if kind == DATETIME and isinstance(value, dt.datetime):
        sheet.write_datetime(r, c, _utc_naive(value), formats.datetime)
    elif kind in (DATE, DATETIME) and isinstance(value, dt.date):
        sheet.write_datetime(r, c, dt.datetime.combine(value, dt.time()), formats.date)
    elif kind == MONEY and isinstance(value, int | float | Decimal):
        code = column.currency or (row[column.currency_column] if column.currency_column is not None else "")
        # Excel holds doubles: the Decimal becomes one only here, in the file.
        sheet.write_number(r, c, float(value), formats.money(code or ""))
    elif kind == INTEGER and isinstance(value, int):
        sheet.write_number(r, c, value, formats.integer)
    elif kind in (NUMBER, MONEY, INTEGER) and isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        sheet.write_number(r, c, float(value), formats.number)
    else:
        sheet.write_string(r, c, str(value)[:EXCEL_MAX_TEXT])


def xlsx_response(rows, *, columns: list[Column], filename: str, sheet_name: str) -> FileResponse:
    """Write ``rows`` (an iterable of sequences, no header: the columns give it) to a
    workbook in a temporary file and stream it back as an attachment, never cached."""
    output = tempfile.TemporaryFile(prefix="export-", suffix=".xlsx")
    workbook = xlsxwriter.Workbook(output, {"constant_memory": True, "strings_to_formulas": False,
                                            "strings_to_urls": False, "strings_to_numbers": False})
    try:
        formats = _Formats(workbook)
        sheet = workbook.add_worksheet(sheet_name[:31])
        for c, column in enumerate(columns):
            sheet.set_column(c, c, column.width)
        for c, column in enumerate(columns):
            sheet.write_string(0, c, column.header, formats.header)
        sheet.freeze_panes(1, 0)
        r = 0
        for r, row in enumerate(rows, start=1):
            for c, column in enumerate(columns):
                _write(sheet, formats, r, c, column, row[c], row)
        sheet.autofilter(0, 0, max(r, 1), len(columns) - 1)
    finally:
        workbook.close()
    output.seek(0)
    response = FileResponse(output, as_attachment=True, filename=filename, content_type=CONTENT_TYPE)
    add_never_cache_headers(response)
    return response
